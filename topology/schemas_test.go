package topology_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/registrylog"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/schemaregistry"
	filesink "github.com/sluicehq/sluice/sinks/file"
	filesource "github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// A subject name strategy that Confluent's serializers do not know fails Validate naming the topic and the
// field; the three they know pass.
func TestSubjectNamesValidated(t *testing.T) {
	for _, strategy := range []string{"topic", "record", "topic-record"} {
		tp := topology.New("p")
		tp.Source("files", nopSource{}).To(tp.Topic("lines", topology.SubjectNames(strategy)))
		if err := tp.Validate(); err != nil {
			t.Errorf("SubjectNames(%q): %v", strategy, err)
		}
	}
	tp := topology.New("p")
	tp.Source("files", nopSource{}).To(tp.Topic("lines", topology.SubjectNames("TopicNameStrategy")))
	err := tp.Validate()
	if err == nil || !strings.Contains(err.Error(), `topic "lines": SubjectNames "TopicNameStrategy" is not one of topic, record, topic-record`) {
		t.Fatalf("Validate: %v", err)
	}
}

// The schema-registry settings come from their SLUICE_ variables; a compatibility level that is not one of
// Confluent's, a URL that is not http(s), and credentials without a URL fail naming the variable.
func TestSchemaRegistryConfigFromEnv(t *testing.T) {
	t.Setenv("SLUICE_SCHEMA_REGISTRY_COMPATIBILITY", "FORWARD_TRANSITIVE")
	cfg, err := topology.ConfigFromEnv()
	if err != nil || cfg.SchemaRegistryCompatibility != "FORWARD_TRANSITIVE" || cfg.SchemaRegistryURL != "" {
		t.Fatalf("ConfigFromEnv: %+v, %v", cfg, err)
	}
	for _, c := range []struct{ env, value, want string }{
		{"SLUICE_SCHEMA_REGISTRY_COMPATIBILITY", "forwards", `SLUICE_SCHEMA_REGISTRY_COMPATIBILITY): "forwards" is not one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD`},
		{"SLUICE_SCHEMA_REGISTRY_URL", "registry:8081", `SLUICE_SCHEMA_REGISTRY_URL): "registry:8081" is not an http or https URL`},
		{"SLUICE_SCHEMA_REGISTRY_USERNAME", "ann", `SLUICE_SCHEMA_REGISTRY_URL) is not set`},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv("SLUICE_SCHEMA_REGISTRY_COMPATIBILITY", "")
			t.Setenv(c.env, c.value)
			if _, err := topology.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s=%s: %v, want %q", c.env, c.value, err, c.want)
			}
		})
	}
	t.Setenv("SLUICE_SCHEMA_REGISTRY_COMPATIBILITY", "")
	t.Setenv("SLUICE_SCHEMA_REGISTRY_URL", "https://registry.example:8081")
	t.Setenv("SLUICE_SCHEMA_REGISTRY_USERNAME", "ann")
	t.Setenv("SLUICE_SCHEMA_REGISTRY_PASSWORD", "${env:REGISTRY_PW}")
	cfg, err = topology.ConfigFromEnv()
	if err != nil || cfg.SchemaRegistryURL != "https://registry.example:8081" || cfg.SchemaRegistryPassword != "${env:REGISTRY_PW}" {
		t.Fatalf("ConfigFromEnv: %+v, %v", cfg, err)
	}
}

// orderShape is an ETL stage that turns lines "v1 <id>" and "v2 <id>" into order structs: v1 with the
// required field status, v2 without it (a change FORWARD refuses).
func orderShape() stages.Stage {
	v1 := stream.NewStruct("shop.Order").Field("id", stream.Int64Schema()).Field("status", stream.StringSchema()).MustBuild()
	v2 := stream.NewStruct("shop.Order").Field("id", stream.Int64Schema()).MustBuild()
	return stages.Map("shape", func(r stream.Record) (stream.Record, error) {
		line, _ := r.Value.(string)
		var version string
		var id int64
		if _, err := fmt.Sscanf(line, "%s %d", &version, &id); err != nil {
			return r, err
		}
		schema := v1
		if version == "v2" {
			schema = v2
		}
		s, err := stream.NewStructValue(schema)
		if err != nil {
			return r, err
		}
		s.Put("id", id)
		if version == "v1" {
			s.Put("status", "new")
		}
		r.Value, r.ValueSchema = s, schema
		return r, nil
	})
}

// An avro topic with the embedded registry at FORWARD, fed by a source with a dead-letter topic: the record
// whose schema FORWARD refuses goes to the dead-letter topic with the refusal (subject, field, rule) in
// its reason, never to the avro topic, and the pipeline goes on; the registry's REST API is served on the
// operator API behind its token.
func TestAvroRefusedSchemaGoesToSourceDeadLetters(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(in, []byte("v1 1\nv1 2\nv2 3\nv1 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := filesource.New(filesource.Config{Paths: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.New(filesink.Config{Path: out})
	if err != nil {
		t.Fatal(err)
	}
	tp := topology.New("avro-dlq")
	orders := tp.Topic("avro-dlq.orders", topology.ValueCodec("avro"))
	refused := tp.Topic("avro-dlq.refused", topology.ValueCodec("string"))
	tp.Source("lines", src).Via(orderShape()).To(orders).DeadLetter(refused)
	tp.Flow("out").From(orders).To(sink)
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, testkit.FreeAddr(t)
	cfg.APIToken = "h3-token-0123456789abcdef"
	cfg.SchemaRegistryCompatibility = "FORWARD"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(string(readFile(out)), "\n") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("3 orders not delivered within 60s: %q", readFile(out))
		}
		select {
		case err := <-done:
			t.Fatalf("RunWith: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, want := range []string{`"id":1`, `"id":2`, `"id":4`} {
		if !strings.Contains(string(readFile(out)), want) {
			t.Errorf("output lacks %s: %s", want, readFile(out))
		}
	}
	if strings.Contains(string(readFile(out)), `"id":3`) {
		t.Errorf("the refused record reached the flow: %s", readFile(out))
	}
	dead := testkit.ReadTopic(t, brokers, "avro-dlq.refused")
	if len(dead) != 1 || string(dead[0].Value) != "v2 3" {
		t.Fatalf("dead letters %+v, want the source record v2 3", dead)
	}
	reason := ""
	for _, h := range dead[0].Headers {
		if h.Key == topology.HeaderErrorReason {
			reason = string(h.Value)
		}
	}
	for _, want := range []string{`subject "avro-dlq.orders-value"`, `field "status"`, "FORWARD"} {
		if !strings.Contains(reason, want) {
			t.Errorf("dead-letter reason %q does not name %s", reason, want)
		}
	}

	base := "http://" + cfg.HTTPAddr
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get("/subjects", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /subjects without the API token: %d, want 401", code)
	}
	if code, body := get("/subjects", cfg.APIToken); code != http.StatusOK || !strings.Contains(body, `"avro-dlq.orders-value"`) {
		t.Errorf("GET /subjects: %d %s", code, body)
	}
	if code, body := get("/subjects/avro-dlq.orders-value/versions", cfg.APIToken); code != http.StatusOK || strings.TrimSpace(body) != "[1]" {
		t.Errorf("GET /subjects/avro-dlq.orders-value/versions: %d %s, want [1]: the refused schema is no version", code, body)
	}
}

// A flow ending in an avro topic, without a dead-letter topic: the record whose schema the subject's rule
// refuses stops the flow with an error naming the flow, the record, the subject, the field and the rule
// (and wrapping stream.ErrIncompatibleSchema); neither it nor any record after it is produced, and the
// flow commits nothing of its batch. A restart with the rule relaxed delivers the batch again (at least
// once: the 2 records before the refused one twice) and the rest.
func TestAvroRefusedSchemaStopsFlowToTopic(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	if err := os.WriteFile(in, []byte("v1 1\nv1 2\nv2 3\nv1 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func() *topology.Topology {
		src, err := filesource.New(filesource.Config{Paths: []string{in}})
		if err != nil {
			t.Fatal(err)
		}
		tp := topology.New("avro-stop")
		lines := tp.Topic("avro-stop.lines", topology.ValueCodec("string"))
		orders := tp.Topic("avro-stop.orders", topology.ValueCodec("avro"))
		tp.Source("lines", src).To(lines)
		tp.Flow("shape").From(lines).Via(orderShape()).ToTopic(orders, topology.BatchSize(10), topology.Linger(time.Second))
		return tp
	}
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, "off"
	cfg.SchemaRegistryCompatibility = "FORWARD"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := build().RunWith(ctx, cfg)
	if err == nil {
		t.Fatal("RunWith returned nil; want the refusal")
	}
	for _, want := range []string{`flow "shape"`, "avro-stop.lines/0@2", `subject "avro-stop.orders-value"`, `field "status"`, "FORWARD"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	if !errors.Is(err, stream.ErrIncompatibleSchema) {
		t.Errorf("error does not wrap stream.ErrIncompatibleSchema: %v", err)
	}
	if ids := orderIDs(t, brokers, "avro-stop.orders"); fmt.Sprint(ids) != "[1 2]" {
		t.Fatalf("avro-stop.orders holds orders %v, want [1 2]: those before the refused one", ids)
	}

	// Relaxed (NONE, as the default here), the restarted flow goes on from the refused record.
	cfg.SchemaRegistryCompatibility = "NONE"
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- build().RunWith(runCtx, cfg) }()
	deadline := time.Now().Add(60 * time.Second)
	for !slices.Contains(orderIDs(t, brokers, "avro-stop.orders"), 4) {
		if time.Now().After(deadline) {
			t.Fatal("records 3 and 4 not produced within 60s after the rule was relaxed")
		}
		select {
		case err := <-done:
			t.Fatalf("RunWith: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ids := orderIDs(t, brokers, "avro-stop.orders")
	count := map[int64]int{}
	for _, id := range ids {
		count[id]++
	}
	if count[1] < 1 || count[2] < 1 || count[3] != 1 || count[4] != 1 || len(count) != 4 {
		t.Errorf("avro-stop.orders holds orders %v, want 1 and 2 (once or twice) and 3 and 4 once each", ids)
	}
}

// orderIDs decodes the ids of the orders an avro topic holds, in order, with the schemas of the embedded
// registry's topic on brokers.
func orderIDs(t *testing.T, brokers []string, topic string) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log, err := registrylog.Open(ctx, kafka.Settings{Brokers: brokers}, schemaregistry.DefaultTopic, 1)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schemaregistry.OpenEmbedded(ctx, log, schemaregistry.EmbeddedOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	avro, _ := stream.LookupCodec("avro")
	codec, err := avro.(stream.TopicCodec).ForTopic(stream.TopicBinding{Topic: topic, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, m := range testkit.ReadTopic(t, brokers, topic) {
		_, v, err := codec.Decode(m.Value)
		if err != nil {
			t.Fatalf("%s@%d: %v", topic, m.Offset, err)
		}
		id, err := v.(*stream.Struct).GetInt64("id")
		if err != nil {
			t.Fatalf("%s@%d: %v", topic, m.Offset, err)
		}
		ids = append(ids, id)
	}
	return ids
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// A topology with an avro topic needs the embedded registry's topic (CREATE, READ, WRITE); one without any
// registry codec needs nothing of it.
func TestACLsOfTheRegistryTopic(t *testing.T) {
	registryACLs := func(codec string) []string {
		tp := topology.New("p")
		tp.Source("files", nopSource{}).To(tp.Topic("lines", topology.ValueCodec(codec)))
		var ops []string
		for _, a := range tp.ACLs("User:sluice") {
			if a.Name == schemaregistry.DefaultTopic {
				ops = append(ops, a.Operation)
			}
		}
		return ops
	}
	if got := registryACLs("avro"); fmt.Sprint(got) != "[CREATE READ WRITE]" {
		t.Errorf("ACLs on %s with an avro topic: %v, want [CREATE READ WRITE]", schemaregistry.DefaultTopic, got)
	}
	if got := registryACLs("json"); len(got) != 0 {
		t.Errorf("ACLs on %s without an avro topic: %v, want none", schemaregistry.DefaultTopic, got)
	}
}

// With SchemaRegistryURL the pipeline registers its schemas in that registry (here a registry's REST API
// on its own HTTP server, reached with the configured basic credentials), creates no registry topic and
// serves no registry API; a registry that does not answer fails start-up naming its URL.
func TestExternalSchemaRegistry(t *testing.T) {
	brokers := testkit.Brokers(t, 1)
	reg, err := schemaregistry.OpenEmbedded(context.Background(), schemaregistry.NewMemoryLog(), schemaregistry.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var sawUser atomic.Value
	external := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, _, ok := r.BasicAuth(); ok {
			sawUser.Store(user)
		}
		reg.Handler().ServeHTTP(w, r)
	}))
	defer external.Close()

	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.log"), filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(in, []byte("v1 1\nv1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func() *topology.Topology {
		src, err := filesource.New(filesource.Config{Paths: []string{in}})
		if err != nil {
			t.Fatal(err)
		}
		sink, err := filesink.New(filesink.Config{Path: out})
		if err != nil {
			t.Fatal(err)
		}
		tp := topology.New("avro-ext")
		orders := tp.Topic("avro-ext.orders", topology.ValueCodec("avro"), topology.SubjectNames("record"))
		tp.Source("lines", src).Via(orderShape()).To(orders)
		tp.Flow("out").From(orders).To(sink)
		return tp
	}
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = brokers, testkit.FreeAddr(t)
	cfg.SchemaRegistryURL, cfg.SchemaRegistryUsername = external.URL, "ann"
	t.Setenv("H3_REGISTRY_PW", "registry-secret-pw")
	cfg.SchemaRegistryPassword = "${env:H3_REGISTRY_PW}"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- build().RunWith(ctx, cfg) }()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(string(readFile(out)), "\n") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("2 orders not delivered within 60s: %q", readFile(out))
		}
		select {
		case err := <-done:
			t.Fatalf("RunWith: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	res, err := http.Get("http://" + cfg.HTTPAddr + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "external schema registry at "+external.URL) {
		t.Errorf("operator API GET /subjects with an external registry: %d %s", res.StatusCode, body)
	}
	res, err = http.Get(external.URL + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if strings.TrimSpace(string(body)) != `["shop.Order"]` {
		t.Errorf("the external registry's subjects: %s, want the record name shop.Order (SubjectNames(\"record\"))", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SchemaByID(context.Background(), 1); err != nil {
		t.Errorf("the external registry holds no schema 1: %v", err)
	}
	if u, _ := sawUser.Load().(string); u != "ann" {
		t.Errorf("the registry saw basic-auth user %q, want ann", u)
	}
	for _, m := range testkit.Topics(t, brokers) {
		if m == schemaregistry.DefaultTopic {
			t.Errorf("topic %s created although the registry is external", m)
		}
	}

	external.Close()
	cfg.StartupTimeout = 5 * time.Second
	err = build().RunWith(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "schema registry at "+external.URL+" (SLUICE_SCHEMA_REGISTRY_URL)") {
		t.Errorf("RunWith with the registry gone: %v", err)
	}
}
