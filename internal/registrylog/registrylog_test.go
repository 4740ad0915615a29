package registrylog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/stream"
)

var quiet = slog.New(slog.DiscardHandler)

// cluster is the Kafka of a test: a 1-node real Kafka under SLUICE_TEST_KAFKA=real, else the embedded broker
// on a data directory; restart stops it and starts it again on the same address and data.
type cluster struct {
	t       *testing.T
	brokers []string
	b       *broker.Broker
	real    *kafkatest.Cluster
	dir     string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if kafkatest.Real() {
		real := kafkatest.Start(t, kafkatest.Options{Nodes: 1})
		return &cluster{t: t, brokers: real.Addrs(), real: real}
	}
	c := &cluster{t: t, dir: t.TempDir()}
	var err error
	if c.b, err = broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: c.dir, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	c.brokers = c.b.Addrs()
	t.Cleanup(func() { _ = c.b.Close() })
	return c
}

func (c *cluster) restart() {
	c.t.Helper()
	if c.real != nil {
		c.real.Restart(0)
		return
	}
	if err := c.b.Close(); err != nil {
		c.t.Fatal(err)
	}
	var err error
	if c.b, err = broker.Start(broker.Config{Addr: c.brokers[0], DataDir: c.dir, Logger: quiet}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) open(ctx context.Context, topic string) *schemaregistry.Embedded {
	c.t.Helper()
	log, err := Open(ctx, kafka.Settings{Brokers: c.brokers}, topic, 1)
	if err != nil {
		c.t.Fatal(err)
	}
	e, err := schemaregistry.OpenEmbedded(ctx, log, schemaregistry.EmbeddedOptions{Logger: quiet})
	if err != nil {
		c.t.Fatal(err)
	}
	return e
}

func version(n int) stream.RegisteredSchema {
	fields := `{"name":"id","type":"long"}`
	for i := 1; i < n; i++ {
		fields += fmt.Sprintf(`,{"name":"f%d","type":"string","default":""}`, i)
	}
	return stream.RegisteredSchema{Schema: `{"type":"record","name":"Value","namespace":"shop.orders","fields":[` + fields + `]}`}
}

// TestKafkaLogRestartKeepsIDs registers schemas in an embedded registry on a Kafka topic, closes it (and
// restarts the embedded broker), and opens a new one on the same topic: it serves the same ids, versions
// and levels, and keeps numbering where the first stopped.
func TestKafkaLogRestartKeepsIDs(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	first := c.open(ctx, "")
	ids := map[int]int{}
	for n := 1; n <= 3; n++ {
		id, err := first.Register(ctx, "shop.orders-value", version(n))
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	keyID, err := first.Register(ctx, "shop.orders-key", stream.RegisteredSchema{Schema: `"long"`})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.SetCompatibility(ctx, "shop.orders-value", schemaregistry.Forward); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// The topic is what the registry needs: one partition, compacted.
	admin, err := sarama.NewClusterAdmin(c.brokers, kafka.SaramaConfig(kafka.Settings{}))
	if err != nil {
		t.Fatal(err)
	}
	topics, err := admin.DescribeTopics([]string{schemaregistry.DefaultTopic})
	if err != nil || len(topics) != 1 || len(topics[0].Partitions) != 1 {
		t.Fatalf("topic %s: %+v, %v; want one partition", schemaregistry.DefaultTopic, topics, err)
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: schemaregistry.DefaultTopic, ConfigNames: []string{"cleanup.policy"}})
	if err != nil || len(entries) != 1 || entries[0].Value != "compact" {
		t.Errorf("cleanup.policy of %s: %+v, %v; want compact", schemaregistry.DefaultTopic, entries, err)
	}
	_ = admin.Close()

	c.restart()
	second := c.open(ctx, "")
	defer second.Close()
	for n, id := range ids {
		got, err := second.SchemaByID(ctx, id)
		if err != nil {
			t.Fatalf("after restart, schema %d: %v", id, err)
		}
		if again, err := second.Register(ctx, "shop.orders-value", version(n)); err != nil || again != id {
			t.Errorf("after restart, version %d registers as id %d (%v), want %d", n, again, err, id)
		}
		_ = got
	}
	if level, err := second.Compatibility(ctx, "shop.orders-value"); err != nil || level != schemaregistry.Forward {
		t.Errorf("after restart, compatibility %q, %v; want FORWARD", level, err)
	}
	if id, err := second.Register(ctx, "shop.orders-value", version(4)); err != nil || id != keyID+1 {
		t.Errorf("a new schema after restart got id %d (%v), want %d", id, err, keyID+1)
	}
	srv := httptest.NewServer(second.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/subjects/shop.orders-value/versions")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := string(body); got != "[1,2,3,4]\n" {
		t.Errorf("versions after restart: %q, want [1,2,3,4]", got)
	}
}

// TestKafkaLogTwoReplicasAgree: two registries on two connections to one topic (two replicas of a
// pipeline) register the same schemas at once and hand out the same ids.
func TestKafkaLogTwoReplicasAgree(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topic := "registry-" + filepath.Base(t.TempDir())
	replicas := []*schemaregistry.Embedded{c.open(ctx, topic), c.open(ctx, topic)}
	got := make([][]int, 2)
	var wg sync.WaitGroup
	for i, r := range replicas {
		defer r.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; n <= 4; n++ {
				id, err := r.Register(ctx, fmt.Sprintf("subject-%d", n%2), version(n))
				if err != nil {
					t.Error(err)
					return
				}
				got[i] = append(got[i], id)
			}
		}()
	}
	wg.Wait()
	if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
		t.Errorf("replicas gave different ids: %v and %v", got[0], got[1])
	}
	for _, id := range got[0] {
		a, errA := replicas[0].SchemaByID(ctx, id)
		b, errB := replicas[1].SchemaByID(ctx, id)
		if errA != nil || errB != nil || a != b {
			t.Errorf("id %d: %v (%v) and %v (%v)", id, a, errA, b, errB)
		}
	}
}

// BenchmarkRegister measures one new registration (append, read back, apply) and one cached lookup on a
// registry on a Kafka topic, and the replay of everything registered by a newly opened registry.
func BenchmarkRegister(b *testing.B) {
	dir := b.TempDir()
	br, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	ctx := context.Background()
	open := func() *schemaregistry.Embedded {
		log, err := Open(ctx, kafka.Settings{Brokers: br.Addrs()}, "", 1)
		if err != nil {
			b.Fatal(err)
		}
		e, err := schemaregistry.OpenEmbedded(ctx, log, schemaregistry.EmbeddedOptions{Logger: quiet, DefaultCompatibility: "NONE"})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	e := open()
	defer e.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := e.Register(ctx, fmt.Sprintf("s-%d", i), version(i%50+1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/register")
	b.StopTimer()
	replayStart := time.Now()
	again := open()
	b.ReportMetric(float64(time.Since(replayStart).Milliseconds()), "ms-replay")
	_ = again.Close()
}

// TestKafkaLogSurvivesBrokerRestart: a registry that stays open while its Kafka restarts keeps serving and
// registering once Kafka is back (its reader and producer reconnect).
func TestKafkaLogSurvivesBrokerRestart(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e := c.open(ctx, "")
	defer e.Close()
	id1, err := e.Register(ctx, "s", version(1))
	if err != nil {
		t.Fatal(err)
	}
	c.restart()
	start := time.Now()
	id2, err := e.Register(ctx, "s", version(2))
	if err != nil || id2 != id1+1 {
		t.Fatalf("register after the restart: id %d, %v; want %d", id2, err, id1+1)
	}
	t.Logf("first registration after the restart took %v", time.Since(start).Round(time.Millisecond))
	other := c.open(ctx, "")
	defer other.Close()
	if s, err := other.SchemaByID(ctx, id2); err != nil || s.Schema == "" {
		t.Errorf("a new replica after the restart: schema %d: %v", id2, err)
	}
}

// TestKafkaLogSASLSSL opens the registry's log on a broker that requires TLS and SCRAM-SHA-512, as the
// pipeline's own clients reach it; wrong credentials fail at once, naming the user.
func TestKafkaLogSASLSSL(t *testing.T) {
	sec := kafka.Security{TLS: true, SASLMechanism: kafka.SASLScramSHA512, SASLUsername: "registry", SASLPassword: "registry-secret"}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Security: sec, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	settings := func(s kafka.Security) kafka.Settings {
		auth, err := kafka.NewAuth(b.ClientSecurity(s))
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Settings{Brokers: b.Addrs(), Auth: auth}
	}
	log, err := Open(ctx, settings(sec), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	e, err := schemaregistry.OpenEmbedded(ctx, log, schemaregistry.EmbeddedOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if id, err := e.Register(ctx, "s", version(1)); err != nil || id != 1 {
		t.Fatalf("register over SASL_SSL: %d, %v", id, err)
	}

	wrong := sec
	wrong.SASLPassword = "guess"
	start := time.Now()
	_, err = Open(ctx, settings(wrong), "", 1)
	if err == nil || !strings.Contains(err.Error(), `user "registry"`) {
		t.Errorf("wrong password: %v; want an error naming the user", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("wrong password took %v to fail", took)
	}
}
