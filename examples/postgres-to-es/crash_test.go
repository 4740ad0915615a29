package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/testkit"
)

// The example process, with its private PostgreSQL in the data dir (which dies with it), is SIGKILLed three
// times while its load generator commits changes, and started again at once each time; a last run without
// the generator makes Elasticsearch converge to PostgreSQL's state exactly.
func TestKilledWithItsPostgresConverges(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "postgres-to-es")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	env := []string{"SLUICE_POSTGRES_DSN=", "SLUICE_ES_URL=" + srv.URL(), "SLUICE_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"SLUICE_BROKER_ADDR=" + testkit.FreeAddr(t), "SLUICE_HTTP_ADDR=" + testkit.FreeAddr(t)}
	env = append(env, testkit.KafkaEnv(t, 3)...)   // real Kafka (SLUICE_TEST_KAFKA=real): three nodes through the kills
	logs := filepath.Join(t.TempDir(), "runs.log") // every run's output, shown when the test fails
	t.Cleanup(func() {
		if b, _ := os.ReadFile(logs); t.Failed() {
			t.Logf("--- output of the runs ---\n%s", b)
		}
	})
	start := func(args ...string) (*exec.Cmd, string) {
		out := filepath.Join(t.TempDir(), "run.log")
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close() // the child holds its own descriptor
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	keep := func(out string) {
		b, _ := os.ReadFile(out)
		f, err := os.OpenFile(logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			fmt.Fprintf(f, "--- run\n%s", b)
			f.Close()
		}
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	for kill := 1; kill <= 3; kill++ {
		cmd, out := start("-generate", "300", "-progress", "500ms")
		waitLine(t, out, "insert->indexed", time.Minute)             // streaming, and the generator's orders are indexed
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Millisecond) // pacing: the kill lands anywhere in the load
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		keep(out)
		t.Logf("kill %d", kill)
	}
	final, out := start("-progress", "0")
	defer func() {
		final.Process.Signal(syscall.SIGTERM)
		final.Wait()
		keep(out)
	}()
	_, dsn, _ := strings.Cut(waitLine(t, out, "try: psql '", time.Minute), "try: psql '")
	dsn = strings.TrimSuffix(dsn, "')")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	shop := &shopDB{dsn: dsn, db: db}
	var orders int
	if err := db.QueryRow("SELECT count(*) FROM shop.orders").Scan(&orders); err != nil {
		t.Fatal(err)
	}
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	converge(t, shop, client, fmt.Sprintf("after 3 SIGKILLs under load (%d orders)", orders))
}

// waitLine waits until the file at path has a line containing substr and returns it.
func waitLine(t *testing.T, path, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range testkit.ReadLines(t, path) {
			if strings.Contains(line, substr) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q in %s within %v", substr, path, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
