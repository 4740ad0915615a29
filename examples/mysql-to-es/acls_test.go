package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/searchdemotest"
	"github.com/sluicehq/sluice/topology"
)

// Issue 16, acceptance 1, on the flagship itself: build(...)'s topology runs under a principal holding
// exactly Topology.ACLs, and with any one start-up entry removed RunWith fails naming it.
//
// The flagship's names are fixed (pipeline shop-search, CDC topics sluice.shop.*), so "topics and groups do
// not exist yet" in every iteration means a fresh cluster per grant: on the embedded broker a kfake cluster
// enforcing ACLs (always); under SLUICE_TEST_KAFKA=real a real 1-node Apache Kafka with a SASL_SSL listener
// and the StandardAuthorizer (kafkatest.Security), user "sluice" by SCRAM-SHA-512, per grant.

func aclMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// flagshipACLKafka is a Kafka that enforces ACLs for a principal. grant starts a cluster private to the
// pipeline run in which the principal holds exactly acls, and returns the run's configuration.
type flagshipACLKafka struct {
	principal string
	grant     func(t *testing.T, acls []topology.ACL) topology.Config
	parallel  int // iterations of the removal loop at a time
}

func flagshipACLConfig(t *testing.T, brokers []string) topology.Config {
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr, cfg.DataDir = brokers, "off", filepath.Join(t.TempDir(), "data")
	cfg.SessionTimeout = 7 * time.Second
	cfg.StartupTimeout = 20 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// kfakeFlagshipACLs: a fresh kfake cluster per grant with ACLs enforced, granting the anonymous principal
// (clients without SASL).
func kfakeFlagshipACLs() flagshipACLKafka {
	return flagshipACLKafka{principal: "User:ANONYMOUS", parallel: 4, grant: func(t *testing.T, acls []topology.ACL) topology.Config {
		var seed []kfake.ACL
		for _, a := range acls {
			rt, err := kmsg.ParseACLResourceType(a.ResourceType)
			aclMust(t, err)
			op, err := kmsg.ParseACLOperation(a.Operation)
			aclMust(t, err)
			pt, err := kmsg.ParseACLResourcePatternType(a.PatternType)
			aclMust(t, err)
			seed = append(seed, kfake.ACL{Resource: rt, Name: a.Name, Pattern: pt, Operation: op, Allow: true, Host: a.Host})
		}
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableACLs(), kfake.GroupMinSessionTimeout(1000),
			kfake.User("PLAIN", "ANONYMOUS", "unused", seed...))
		aclMust(t, err)
		t.Cleanup(c.Close)
		return flagshipACLConfig(t, c.ListenAddrs())
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

// realFlagshipACLs: per grant, a fresh real 1-node Kafka with SASL_SSL and the StandardAuthorizer; the
// ACLs are created by the admin superuser with sarama's CreateACLs, and the grant returns once the
// broker's authorizer shows them all (KRaft applies them asynchronously). Two JVMs at a time: the machine
// has two cores.
func realFlagshipACLs() flagshipACLKafka {
	const user, password = "sluice", "sluice-acl-test"
	principal := "User:" + user
	return flagshipACLKafka{principal: principal, parallel: 2, grant: func(t *testing.T, acls []topology.ACL) topology.Config {
		c := kafkatest.Start(t, kafkatest.Options{Security: &kafkatest.Security{TLS: true, Authorizer: true, Users: map[string]string{user: password}}})
		auth, err := kafka.NewAuth(c.AdminSecurity())
		aclMust(t, err)
		acfg := kafka.SaramaConfig(kafka.Settings{ClientID: "acl-test-admin"})
		auth.Apply(acfg)
		acfg.Admin.Timeout = 30 * time.Second
		admin, err := sarama.NewClusterAdmin(c.Addrs(), acfg)
		aclMust(t, err)
		defer admin.Close()
		var resources []*sarama.ResourceAcls
		for _, a := range acls {
			resources = append(resources, &sarama.ResourceAcls{
				Resource: sarama.Resource{ResourceType: saramaResource[a.ResourceType], ResourceName: a.Name, ResourcePatternType: saramaPattern[a.PatternType]},
				Acls:     []*sarama.Acl{{Principal: a.Principal, Host: a.Host, Operation: saramaOperation[a.Operation], PermissionType: sarama.AclPermissionAllow}},
			})
		}
		aclMust(t, admin.CreateACLs(resources))
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
		cfg := flagshipACLConfig(t, c.Addrs())
		cfg.Kafka = topology.KafkaSecurity(c.ClientSecurity(kafka.SASLScramSHA512, user, password))
		return cfg
	}}
}

// startupACLs are the entries start-up and the first records need (not those of operator actions).
func startupACLs(all []topology.ACL) []topology.ACL {
	var out []topology.ACL
	for _, a := range all {
		if !a.OperatorOnly {
			out = append(out, a)
		}
	}
	return out
}

// TestFlagshipACLsExactSet: the flagship runs under exactly its derived ACL set, and fails start-up naming
// each start-up entry when that one is removed. Embedded (kfake) always; real Kafka under
// SLUICE_TEST_KAFKA=real (make test-kafka).
func TestFlagshipACLsExactSet(t *testing.T) {
	db.Exec(t, "DROP DATABASE IF EXISTS shop")
	for _, s := range schema {
		db.Exec(t, s)
	}
	db.Exec(t, "INSERT INTO shop.customers (name, email) VALUES ('Ada', 'ada@example.com')")
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	aclMust(t, err)
	defer srv.Close()
	client, err := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	aclMust(t, err)
	if kafkatest.Real() {
		t.Run("real-kafka", func(t *testing.T) { checkFlagshipACLs(t, realFlagshipACLs(), srv.URL(), client, 5600) })
	} else {
		t.Run("kfake", func(t *testing.T) { checkFlagshipACLs(t, kfakeFlagshipACLs(), srv.URL(), client, 5500) })
		t.Log("the real-Kafka run (SASL_SSL, StandardAuthorizer) is part of make test-kafka (SLUICE_TEST_KAFKA=real)")
	}
}

func checkFlagshipACLs(t *testing.T, k flagshipACLKafka, esURL string, client *es.Client, serverID uint32) {
	started := time.Now()
	tp, _, err := build(db.DSN(""), serverID, esURL)
	aclMust(t, err)
	acls := tp.ACLs(k.principal)
	cfg := k.grant(t, startupACLs(acls))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	// An order inserted now (during or after the snapshot) must become a document carrying its customer.
	db.Exec(t, "INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (1, 12.34, 'new', '2026-11-30 20:00:00')")
	var id string
	aclMust(t, db.DB().QueryRow("SELECT CAST(MAX(id) AS CHAR) FROM shop.orders").Scan(&id))
	deadline := time.Now().Add(60 * time.Second)
	for {
		doc := searchdemotest.Indexed(t, client)[id]
		if c, ok := doc["customer"].(map[string]any); ok && c["name"] == "Ada" {
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("RunWith with exactly the derived start-up ACLs: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("order %s is not a document with its customer after 60s (got %v)", id, doc)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith: %v", err)
	}
	need := startupACLs(acls)
	t.Logf("the flagship ran with exactly its %d start-up ACLs (%d derived, %d operator-only left out) in %v",
		len(need), len(acls), len(acls)-len(need), time.Since(started).Round(time.Millisecond))

	// Each start-up entry removed in turn, on a fresh cluster each time (the flagship's names are fixed).
	started = time.Now()
	sem := make(chan struct{}, k.parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var named, listed int
	for i := range need {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			tp, _, err := build(db.DSN(""), serverID+1+uint32(i), esURL)
			if err != nil {
				t.Error(err)
				return
			}
			all := startupACLs(tp.ACLs(k.principal))
			missing := all[i]
			rest := append(append([]topology.ACL{}, all[:i]...), all[i+1:]...)
			cfg := k.grant(t, rest)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- tp.RunWith(ctx, cfg) }()
			select {
			case err = <-errc:
			case <-time.After(40 * time.Second):
				cancel()
				<-errc
				t.Errorf("without %s: RunWith did not fail within 40s", missing)
				return
			}
			switch {
			case err == nil:
				t.Errorf("without %s: RunWith returned nil", missing)
			case !errors.Is(err, topology.ErrNotAuthorized):
				t.Errorf("without %s: the error does not say Kafka refused an ACL: %v", missing, err)
			case strings.Count(err.Error(), " lacks ") != 1:
				t.Errorf("without %s: the error names %d missing ACLs, want 1: %v", missing, strings.Count(err.Error(), " lacks "), err)
			case !strings.Contains(err.Error(), missing.String()):
				t.Errorf("without %s: the error does not name it: %v", missing, err)
			default:
				mu.Lock()
				if strings.Contains(err.Error(), "lacks "+missing.String()) {
					named++
				} else {
					listed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d start-up ACLs removed one at a time: %d errors named exactly the missing one, %d listed it among candidates; %v",
		len(need), named, listed, time.Since(started).Round(time.Millisecond))
}
