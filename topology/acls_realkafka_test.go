package topology_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// realKafkaACLs starts a 1-node real Apache Kafka with a SASL_SSL listener and the StandardAuthorizer
// (kafkatest.Security), with user "sluice". Its grant creates ACLs as the superuser with sarama's
// CreateACLs and waits until the broker's authorizer shows them all (KRaft applies them asynchronously).
// Grants of different pipeline names do not meet: every entry is LITERAL on names the pipeline derives.
func realKafkaACLs(t *testing.T) aclKafka {
	const user, password = "sluice", "sluice-acl-test"
	c := kafkatest.Start(t, kafkatest.Options{Security: &kafkatest.Security{TLS: true, Authorizer: true, Users: map[string]string{user: password}}})
	auth, err := kafka.NewAuth(c.AdminSecurity())
	aclMust(t, err)
	cfg := kafka.SaramaConfig(kafka.Settings{ClientID: "acl-test-admin"})
	auth.Apply(cfg)
	cfg.Admin.Timeout = 30 * time.Second
	admin, err := sarama.NewClusterAdmin(c.Addrs(), cfg)
	aclMust(t, err)
	t.Cleanup(func() { admin.Close() })
	principal := "User:" + user
	sec := c.ClientSecurity(kafka.SASLScramSHA512, user, password)
	return aclKafka{principal: principal, grant: func(t *testing.T, acls []topology.ACL) topology.Config {
		var resources []*sarama.ResourceAcls
		for _, a := range acls {
			resources = append(resources, &sarama.ResourceAcls{
				Resource: sarama.Resource{ResourceType: saramaResource[a.ResourceType], ResourceName: a.Name, ResourcePatternType: saramaPattern[a.PatternType]},
				Acls:     []*sarama.Acl{{Principal: a.Principal, Host: a.Host, Operation: saramaOperation[a.Operation], PermissionType: sarama.AclPermissionAllow}},
			})
		}
		aclMust(t, admin.CreateACLs(resources))
		// The broker answers DescribeAcls from its own authorizer: poll until it holds every new entry.
		deadline := time.Now().Add(30 * time.Second)
		for {
			held := 0
			for _, r := range resources {
				got, err := admin.ListAcls(sarama.AclFilter{ResourceType: r.ResourceType, ResourceName: &r.ResourceName,
					ResourcePatternTypeFilter: r.ResourcePatternType, Principal: &principal, Operation: r.Acls[0].Operation,
					PermissionType: sarama.AclPermissionAllow})
				aclMust(t, err)
				if len(got) > 0 {
					held++
				}
			}
			if held == len(resources) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the broker shows %d of the %d ACLs created 30s ago", held, len(resources))
			}
			time.Sleep(100 * time.Millisecond)
		}
		cfg := aclConfig(c.Addrs())
		cfg.Kafka = topology.KafkaSecurity(sec)
		cfg.StartupTimeout = 20 * time.Second
		return cfg
	}}
}

var (
	saramaResource = map[string]sarama.AclResourceType{
		topology.ResourceTopic: sarama.AclResourceTopic, topology.ResourceGroup: sarama.AclResourceGroup,
		topology.ResourceCluster: sarama.AclResourceCluster, topology.ResourceTransactionalID: sarama.AclResourceTransactionalID,
	}
	saramaPattern = map[string]sarama.AclResourcePatternType{
		topology.PatternLiteral: sarama.AclPatternLiteral, topology.PatternPrefixed: sarama.AclPatternPrefixed,
	}
	saramaOperation = map[string]sarama.AclOperation{
		topology.OpRead: sarama.AclOperationRead, topology.OpWrite: sarama.AclOperationWrite,
		topology.OpCreate: sarama.AclOperationCreate, topology.OpDelete: sarama.AclOperationDelete,
		topology.OpDescribe: sarama.AclOperationDescribe, topology.OpDescribeConfigs: sarama.AclOperationDescribeConfigs,
		topology.OpIdempotentWrite: sarama.AclOperationIdempotentWrite,
	}
)
