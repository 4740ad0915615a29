package firstpipelines_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/topology"
)

// The examples' set-up. Examples have no *testing.T, so a failure here panics, which fails the example
// with the message.

// deadline bounds every wait of an example: a pipeline reaching its expected output, a kcat run.
const deadline = 2 * time.Minute

// env is what an example runs against: the embedded broker (kfake, the broker a pipeline starts without
// SLUICE_BROKERS), the embedded Elasticsearch-compatible server, and a temporary directory.
type env struct {
	brokers []string
	esURL   string
	dir     string
	broker  *broker.Broker
	es      *esserver.Server
}

func start() *env {
	dir, err := os.MkdirTemp("", "firstpipelines-")
	check(err)
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka")})
	check(err)
	es, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	check(err)
	return &env{brokers: b.Addrs(), esURL: es.URL(), dir: dir, broker: b, es: es}
}

func (e *env) close() {
	e.es.Close()
	e.broker.Close()
	os.RemoveAll(e.dir)
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}

// path is a file name in the example's directory.
func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

// writeFile writes lines to a file of the example's directory and returns its path.
func (e *env) writeFile(name string, lines ...string) string {
	p := e.path(name)
	check(os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return p
}

// createTopic creates a topic of one partition, as a topic written from outside the pipeline exists
// before it.
func (e *env) createTopic(name string) {
	check(kafka.EnsureTopics(e.brokers, kafka.SaramaConfig(kafka.Settings{}), 1, []kafka.TopicSpec{{Name: name, Partitions: 1}}))
}

// run runs the pipeline on the example's broker, as t.Run(ctx) runs it on the embedded one, until done
// reports its output complete; then it stops it as SIGTERM would. A pipeline that fails, or does not get
// there within the deadline, panics.
func (e *env) run(t *topology.Topology, done func() bool) {
	cfg := topology.DefaultConfig()
	cfg.Brokers, cfg.HTTPAddr = e.brokers, "off"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- t.RunWith(ctx, cfg) }()
	stop := time.Now().Add(deadline)
	for !done() {
		select {
		case err := <-ended:
			panic(fmt.Sprintf("pipeline %s ended before its output was complete: %v", t.Name(), err))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(stop) {
			panic(fmt.Sprintf("pipeline %s: output not complete after %v", t.Name(), deadline))
		}
	}
	cancel()
	check(<-ended)
}

// kcat runs the kcat binary against the example's broker with args, feeding it stdin, and returns its
// output, or its error with what it wrote to stderr.
func (e *env) kcat(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", append([]string{"-b", strings.Join(e.brokers, ",")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kcat %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// produce writes "key<TAB>value" lines to topic with kcat (-K '\t': a line without a tab is a value
// without a key).
func (e *env) produce(topic string, lines ...string) {
	_, err := e.kcat(strings.Join(lines, "\n")+"\n", "-P", "-t", topic, "-K", "\t")
	check(err)
}

// consumed reads topic from its start to its end with kcat, as "key value" lines; an error while the
// topic does not exist yet.
func (e *env) consumed(topic string) ([]string, error) {
	out, err := e.kcat("", "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k %s\n")
	if err != nil || out == "" {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n"), nil
}

// count is the number of documents of index that search sees (after a refresh); -1 before it exists.
func (e *env) count(index string) int {
	var c struct{ Count int }
	if e.request("POST", "/"+index+"/_refresh", nil) != http.StatusOK || e.request("GET", "/"+index+"/_count", &c) != http.StatusOK {
		return -1
	}
	return c.Count
}

// document is one Elasticsearch document: its id and its source as JSON.
type document struct {
	ID     string
	Source json.RawMessage
}

// documents returns every document of index (at most 10,000), ordered by id (numerically when the ids
// are numbers of one length or not: shorter first).
func (e *env) documents(index string) []document {
	var res struct {
		Hits struct {
			Hits []struct {
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			}
		}
	}
	e.request("POST", "/"+index+"/_refresh", nil)
	if status := e.request("GET", "/"+index+"/_search?size=10000", &res); status != http.StatusOK {
		panic(fmt.Sprintf("search %s: status %d", index, status))
	}
	docs := make([]document, len(res.Hits.Hits))
	for i, h := range res.Hits.Hits {
		docs[i] = document{ID: h.ID, Source: h.Source}
	}
	sort.Slice(docs, func(i, j int) bool {
		if len(docs[i].ID) != len(docs[j].ID) {
			return len(docs[i].ID) < len(docs[j].ID)
		}
		return docs[i].ID < docs[j].ID
	})
	return docs
}

// get returns the source of a document (a realtime GET), nil when there is none.
func (e *env) get(index, id string) map[string]any {
	var doc struct {
		Source map[string]any `json:"_source"`
	}
	if e.request("GET", "/"+index+"/_doc/"+id, &doc) != http.StatusOK {
		return nil
	}
	return doc.Source
}

// request sends a body-less request to the server and decodes its JSON answer into out (if not nil).
func (e *env) request(method, path string, out any) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.esURL+path, nil)
	check(err)
	res, err := http.DefaultClient.Do(req)
	check(err)
	defer res.Body.Close()
	if out != nil && res.StatusCode == http.StatusOK {
		check(json.NewDecoder(res.Body).Decode(out))
	}
	return res.StatusCode
}

// lines returns the lines of a file; none while it does not exist.
func lines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
