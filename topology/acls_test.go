package topology_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/kafkatest"
	filesink "github.com/sluicehq/sluice/sinks/file"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// aclPipeline is the flagship's shape in small: two file sources feed customers and orders topics, a
// Table of customers, a flow that joins each order with its customer (a join: loop and table topics) and
// writes a file. The orders source has a dead-letter topic.
func aclMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func aclPipeline(t *testing.T, name, dir string) (*topology.Topology, string) {
	t.Helper()
	customersFile, ordersFile, out := filepath.Join(dir, "customers.jsonl"), filepath.Join(dir, "orders.jsonl"), filepath.Join(dir, "out.jsonl")
	aclMust(t, os.WriteFile(customersFile, []byte(`{"id":1,"name":"Ada"}`+"\n"), 0o644))
	aclMust(t, os.WriteFile(ordersFile, []byte(`{"id":10,"customer_id":1,"amount":5}`+"\n"), 0o644))
	tp := topology.New(name)
	customers := tp.Topic(name+"-customers", topology.KeyCodec("json"))
	orders := tp.Topic(name+"-orders", topology.KeyCodec("json"))
	dead := tp.Topic(name + "-dead")
	byID := func() stages.Stage {
		s, err := stages.ValueToKey("key", []string{"id"})
		aclMust(t, err)
		return s
	}
	src := func(path string) *file.Source {
		s, err := file.New(file.Config{Paths: []string{path}, Format: file.JSONLines})
		aclMust(t, err)
		return s
	}
	tp.Source("customers", src(customersFile)).Via(byID()).To(customers)
	tp.Source("orders", src(ordersFile)).Via(byID()).To(orders).DeadLetter(dead)
	table := tp.Table("customers", customers)
	join, err := stages.LookupJoin("with-customer", "customer_id", "customer")
	aclMust(t, err)
	sink, err := filesink.New(filesink.Config{Path: out})
	aclMust(t, err)
	tp.Flow("index").From(orders).Join(table, join).To(sink, topology.BatchSize(10), topology.Linger(5*time.Millisecond))
	return tp, out
}

func TestACLsDerived(t *testing.T) {
	tp, _ := aclPipeline(t, "shop", t.TempDir())
	acls := tp.ACLs("sluice")
	has := map[string]topology.ACL{}
	for _, a := range acls {
		if a.Principal != "User:sluice" || a.Host != "*" || a.Permission != "ALLOW" || a.PatternType != topology.PatternLiteral {
			t.Errorf("%+v: want principal User:sluice, host *, ALLOW, LITERAL", a)
		}
		k := a.ResourceType + " " + a.Name + " " + a.Operation
		if _, dup := has[k]; dup {
			t.Errorf("%s listed twice", k)
		}
		has[k] = a
		if a.Operation == topology.OpDescribe || a.Operation == topology.OpIdempotentWrite || a.ResourceType == topology.ResourceCluster {
			t.Errorf("%s: implied or unused by the engine, must not be listed", k)
		}
	}
	for _, want := range []string{
		"GROUP shop.customers READ", "GROUP shop.orders READ", "GROUP shop.index READ", "GROUP shop.index.with-customer READ",
		"TOPIC shop-orders CREATE", "TOPIC shop-orders WRITE", "TOPIC shop-orders READ", "TOPIC shop-orders DESCRIBE_CONFIGS",
		"TOPIC shop-customers READ", "TOPIC shop-dead WRITE",
		"TOPIC shop.orders.control READ", "TOPIC shop.orders.control WRITE", "TOPIC shop.orders-table DESCRIBE_CONFIGS",
		"TOPIC shop.index.with-customer-loop WRITE", "TOPIC shop.index.with-customer-table READ",
		"TOPIC shop.index.with-customer.out WRITE", "TOPIC shop.index.with-customer.out READ",
		"TOPIC shop.status WRITE", "TOPIC shop.commands READ",
	} {
		if _, ok := has[want]; !ok {
			t.Errorf("missing %s", want)
		}
	}
	if a := has["TOPIC shop.commands WRITE"]; !a.OperatorOnly {
		t.Errorf("commands topic WRITE: want OperatorOnly (the pause endpoint's), got %+v", a)
	}
	if a, ok := has["TOPIC shop-dead READ"]; !ok || !a.OperatorOnly {
		t.Errorf("the dead-letter topic is read by the operator API's dlq routes only (OperatorOnly), got %+v", a)
	}
	got := has["TOPIC shop-orders WRITE"].KafkaACLsCommand("k:9092")
	if want := "kafka-acls.sh --bootstrap-server k:9092 --add --allow-principal User:sluice --operation Write --topic shop-orders"; got != want {
		t.Errorf("command\n got %s\nwant %s", got, want)
	}
	if got := has["TOPIC shop.orders-table DESCRIBE_CONFIGS"].String(); got != "DescribeConfigs on topic shop.orders-table" {
		t.Errorf("String() = %q", got)
	}
	t.Logf("%d ACLs for the pipeline", len(acls))
}

// aclCluster starts a kfake cluster that enforces ACLs and grants the anonymous principal (every client
// without SASL) exactly acls.
func aclCluster(t *testing.T, acls []topology.ACL) []string {
	t.Helper()
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
	return c.ListenAddrs()
}

func aclConfig(brokers []string) topology.Config {
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.SessionTimeout = 7 * time.Second
	cfg.StartupTimeout = 10 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
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

// aclKafka is a Kafka that enforces ACLs, for a principal whose grants a test chooses.
type aclKafka struct {
	principal string
	// grant makes the principal hold exactly acls (for pipelines whose names no other grant uses) and
	// returns the configuration of a pipeline that connects as it.
	grant func(t *testing.T, acls []topology.ACL) topology.Config
}

// kfakeACLs: a fresh kfake cluster per grant, enforcing ACLs (kfake follows Kafka's authorizer: implied
// DESCRIBE, KIP-679 idempotent writes), for the anonymous principal of clients without SASL.
func kfakeACLs() aclKafka {
	return aclKafka{principal: "User:ANONYMOUS", grant: func(t *testing.T, acls []topology.ACL) topology.Config {
		return aclConfig(aclCluster(t, acls))
	}}
}

// TestACLsExactSet: the pipeline runs under a principal holding exactly the derived set, and with any one
// start-up entry removed, RunWith fails naming it. On the embedded broker (kfake with ACLs) always; on real
// Apache Kafka with SASL_SSL and the StandardAuthorizer under SLUICE_TEST_KAFKA=real (make test-kafka).
func TestACLsExactSet(t *testing.T) {
	t.Run("kfake", func(t *testing.T) { checkExactACLs(t, kfakeACLs()) })
	if kafkatest.Real() {
		t.Run("real-kafka", func(t *testing.T) { checkExactACLs(t, realKafkaACLs(t)) })
	} else {
		t.Log("the real-Kafka run (SASL_SSL, StandardAuthorizer) is part of make test-kafka (SLUICE_TEST_KAFKA=real)")
	}
}

func checkExactACLs(t *testing.T, k aclKafka) {
	started := time.Now()
	dir := t.TempDir()
	tp, out := aclPipeline(t, "aclok", dir)
	acls := tp.ACLs(k.principal)
	cfg := k.grant(t, acls)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	// The first order may be joined before the customer reached the table; one appended once it came out
	// of the join finds the customer.
	appended := false
	deadline := time.Now().Add(45 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), `"Ada"`) {
			break
		}
		if !appended && strings.Contains(string(b), `"id":10`) {
			f, err := os.OpenFile(filepath.Join(dir, "orders.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
			aclMust(t, err)
			_, err = f.WriteString(`{"id":11,"customer_id":1,"amount":7}` + "\n")
			aclMust(t, err)
			aclMust(t, f.Close())
			appended = true
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("RunWith with exactly the derived ACLs: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no joined order in %s after 45s (got %q)", out, b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWith: %v", err)
	}
	t.Logf("ran with exactly %d ACLs in %v", len(acls), time.Since(started).Round(time.Millisecond))

	// Each start-up entry removed in turn, a fresh pipeline (names, topics, groups, grants) each time,
	// four at a time.
	started = time.Now()
	need := startupACLs(acls)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var named, listed int
	for i := range need {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("acl%d", i)
			tp, _ := aclPipeline(t, name, t.TempDir())
			all := startupACLs(tp.ACLs(k.principal))
			missing := all[i]
			rest := append(append([]topology.ACL{}, all[:i]...), all[i+1:]...)
			cfg := k.grant(t, rest)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- tp.RunWith(ctx, cfg) }()
			var err error
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
