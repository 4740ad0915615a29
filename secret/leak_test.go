package secret_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// fanout sends every record to each of its handlers (the run's logs are captured as text and as JSON).
type fanout []slog.Handler

func (f fanout) Enabled(context.Context, slog.Level) bool { return true }
func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range f {
		_ = h.Handle(ctx, r.Clone())
	}
	return nil
}
func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}
func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}

// TestLeakNoSecretInAnyOutput is issue 16's acceptance 3: a pipeline with a known, unique secret in every
// connector setting that takes one (the MySQL DSN's password through ${env:}, the Elasticsearch sinks'
// basic-auth password through ${env:}, an API key through ${file:}, a URL's userinfo password given
// literally, and the embedded Kafka broker's SCRAM-SHA-512 password through ${env:}) starts, indexes the
// snapshot, then fails three ways (the Elasticsearch server answers 503, MariaDB is stopped, a stage panics
// with the DSN in its message); every operator API endpoint is read along the way. No log line (text and
// JSON, debug level), API answer, metric or returned error holds any secret.
func TestLeakNoSecretInAnyOutput(t *testing.T) {
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	mysqlPW, esPW, esKey, urlPW, kafkaPW := "MyPw"+suffix+"q7", "EsPw"+suffix+"z3", "EsKey"+suffix+"k9",
		"UrlPw"+suffix+"u1", "KfPw"+suffix+"f5"
	secrets := map[string]string{"mysql password": mysqlPW, "es password": esPW, "es api key": esKey,
		"url password": urlPW, "kafka password": kafkaPW,
		"es basic auth header": base64.StdEncoding.EncodeToString([]byte("esuser:" + esPW))}
	t.Setenv("LEAKTEST_MYSQL_PW", mysqlPW)
	t.Setenv("LEAKTEST_ES_PW", esPW)
	t.Setenv("LEAKTEST_KAFKA_PW", kafkaPW)
	keyFile := filepath.Join(t.TempDir(), "es-api-key")
	if err := os.WriteFile(keyFile, []byte(esKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs []string // everything Sluice said, each prefixed with where it came from
	check := func() {
		t.Helper()
		for _, out := range outputs {
			for name, s := range secrets {
				if strings.Contains(out, s) {
					i := strings.Index(out, s)
					t.Errorf("the %s leaked: %q", name, out[max(0, i-200):min(len(out), i+len(s)+100)])
				}
			}
		}
	}

	// An unresolvable reference fails New naming the setting and the reference.
	_, err := elasticsearch.New(elasticsearch.Config{Password: "${env:LEAKTEST_UNSET}", Username: "u"})
	if err == nil || err.Error() != "elasticsearch sink: Password: ${env:LEAKTEST_UNSET} is not set" {
		t.Errorf("New with an unset variable: %v", err)
	}

	db := mariadbtest.Start(t)
	db.CreateDatabase(t, "leak")
	db.Exec(t, "CREATE TABLE leak.items (id INT PRIMARY KEY, name VARCHAR(50))",
		"INSERT INTO leak.items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
		fmt.Sprintf("CREATE USER 'leaker'@'%%' IDENTIFIED BY '%s'", mysqlPW),
		"GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'leaker'@'%'")
	es, err := esserver.Start(esserver.Config{RefreshInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()

	src, err := mysql.New(mysql.Config{DSN: db.UserDSN("leaker", "${env:LEAKTEST_MYSQL_PW}", ""), ServerID: 4161,
		Tables: []string{"leak.items"}, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sinkA, err := elasticsearch.New(elasticsearch.Config{URLs: []string{es.URL()}, Index: "items-a",
		Username: "esuser", Password: "${env:LEAKTEST_ES_PW}", Refresh: "true", RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sinkB, err := elasticsearch.New(elasticsearch.Config{URLs: []string{"http://esuser:" + urlPW + "@" + es.Addr()},
		Index: "items-b", APIKey: "${file:" + keyFile + "}", Refresh: "true", RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	if err != nil {
		t.Fatal(err)
	}
	resolvedDSN := db.UserDSN("leaker", mysqlPW, "")
	var armed atomic.Bool // flow b's stage panics only once armed
	panicky := func(name string, always bool) stages.Stage {
		return stages.Map(name, func(rec stream.Record) (stream.Record, error) {
			if strings.Contains(fmt.Sprint(rec.Value), "boom") && (always || armed.Load()) {
				panic("cannot reach " + resolvedDSN + " with key " + esKey) // user code printing what it should not
			}
			return rec, nil
		})
	}

	tp := topology.New("leak")
	items := tp.Topic(src.Topic("leak.items"), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"))
	tp.Topic(src.SchemaChangeTopic(), topology.KeyCodec("json-schema"), topology.ValueCodec("json-schema"))
	tp.Source("cdc", src).ToRecordTopics()
	deadLetters := tp.Topic("leak.dead-letters")
	tp.Flow("a").From(items).Via(unwrap, panicky("panicky", true)).To(sinkA).DeadLetter(deadLetters)
	tp.Flow("b").From(items).Via(unwrap, panicky("armed", false)).To(sinkB)

	var textLog, jsonLog testkit.LogBuffer
	cfg := topology.DefaultConfig()
	cfg.BrokerAddr, cfg.DataDir, cfg.HTTPAddr = testkit.FreeAddr(t), t.TempDir(), testkit.FreeAddr(t)
	cfg.Kafka = topology.KafkaSecurity{SASLMechanism: "SCRAM-SHA-512", SASLUsername: "sluice", SASLPassword: "${env:LEAKTEST_KAFKA_PW}"}
	cfg.Logger = slog.New(fanout{slog.NewTextHandler(&textLog, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(&jsonLog, &slog.HandlerOptions{Level: slog.LevelDebug})})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tp.RunWith(ctx, cfg) }()
	var runErr error
	finished := false
	defer func() {
		if !finished {
			cancel()
			<-done
		}
	}()
	waitFor := func(what string, timeout time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !ok() {
			if time.Now().After(deadline) {
				check()
				t.Fatalf("%s: not within %s; log:\n%s", what, timeout, textLog.String())
			}
			select {
			case runErr = <-done:
				finished = true
				check()
				t.Fatalf("%s: the pipeline stopped: %v\nlog:\n%s", what, runErr, textLog.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(url string) (int, string) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	count := func(index string) int {
		code, body := get(es.URL() + "/" + index + "/_count")
		var answer struct{ Count int }
		if code != http.StatusOK || json.Unmarshal([]byte(body), &answer) != nil {
			return -1
		}
		return answer.Count
	}
	api := "http://" + cfg.HTTPAddr
	readAPI := func(when string) {
		t.Helper()
		for _, path := range []string{"/", "/pipelines", "/pipelines/leak", "/pipelines/leak/status", "/pipelines/leak/offsets",
			"/ui/data", "/metrics", "/readyz", "/healthz", "/pipelines/nope/status"} {
			code, body := get(api + path)
			if code == 0 {
				t.Errorf("%s: GET %s: %s", when, path, body)
			}
			outputs = append(outputs, fmt.Sprintf("%s GET %s %d: %s", when, path, code, body))
		}
	}

	waitFor("snapshot indexed", 60*time.Second, func() bool { return count("items-a") == 3 && count("items-b") == 3 })
	readAPI("running")

	// Failure 1: Elasticsearch answers 503 to everything; the sinks retry and warn.
	es.SetFaults(esserver.Faults{UnavailableEvery: 1})
	db.Exec(t, "INSERT INTO leak.items VALUES (4, 'four')")
	waitFor("sink retry warning", 30*time.Second, func() bool {
		return len(textLog.Lines("elasticsearch")) > 0 && strings.Contains(textLog.String(), "503")
	})
	readAPI("es failing")
	es.SetFaults(esserver.Faults{})
	waitFor("row 4 indexed after the faults", 60*time.Second, func() bool { return count("items-a") == 4 && count("items-b") == 4 })

	// Failure 2: MariaDB goes away; the source task fails and retries, naming the server.
	db.Stop()
	waitFor("source failure in the status", 60*time.Second, func() bool {
		_, body := get(api + "/pipelines/leak/status")
		return strings.Contains(body, "last_error")
	})
	readAPI("mysql down")

	// Failure 3: a record makes a stage panic with the DSN and the API key in its message: flow a sets it
	// aside (dead-letter topic, with the reason in a header), flow b stops the pipeline with an error.
	brokers := []string{cfg.BrokerAddr}
	auth, err := kafka.NewAuth(kafka.Security{SASLMechanism: "SCRAM-SHA-512", SASLUsername: "sluice", SASLPassword: kafkaPW})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RegisterAuth(t, brokers, auth)
	first := testkit.ReadTopic(t, brokers, items.Name())[0]
	first.Value = []byte(strings.Replace(string(first.Value), `"one"`, `"boom"`, 1))
	first.Partition = -1
	testkit.Produce(t, brokers, items.Name(), first)
	for _, m := range testkit.WaitRecords(t, brokers, deadLetters.Name(), 1, 60*time.Second) {
		reason, _ := m.Header(topology.HeaderErrorReason)
		outputs = append(outputs, "dead letter reason: "+reason)
		if !strings.Contains(reason, "panicked") {
			t.Errorf("dead letter without the panic as its reason: %q", reason)
		}
	}
	for _, m := range testkit.ReadTopic(t, brokers, "leak.status") {
		outputs = append(outputs, "status record: "+string(m.Value))
	}
	readAPI("dead-lettered")
	armed.Store(true)
	testkit.Produce(t, brokers, items.Name(), first)
	select {
	case runErr = <-done:
		finished = true
	case <-time.After(60 * time.Second):
		t.Fatal("the pipeline did not stop on the panicking stage within 60s")
	}
	if runErr == nil || !strings.Contains(runErr.Error(), "panicked") {
		t.Errorf("RunWith returned %v; want the panic of stage armed", runErr)
	}
	outputs = append(outputs, "returned error: "+fmt.Sprint(runErr))
	outputs = append(outputs, "text log: "+textLog.String(), "json log: "+jsonLog.String())
	check()
	for _, want := range []string{"panicked", "stage panicked", "leaker:" + secret.Mask + "@tcp("} {
		if !strings.Contains(textLog.String(), want) {
			t.Errorf("the log does not say %q (the test must see the failures it checks)", want)
		}
	}
	t.Logf("checked %d outputs, %d bytes of text log, %d bytes of JSON log", len(outputs), len(textLog.String()), len(jsonLog.String()))
}
