package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/internal/testkit"
)

// Acceptance 3: the example process is SIGKILLed during a load of several thousand changes and restarted;
// Elasticsearch converges to the MySQL state exactly.
func TestKilledDuringLoadConverges(t *testing.T) {
	srv, err := esserver.Start(esserver.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, _ := es.NewClient(es.Config{Addresses: []string{srv.URL()}})
	killedDuringLoadConverges(t, srv.URL(), client)
}

// killedDuringLoadConverges runs the flagship into the search engine at esURL under a load of MySQL changes,
// SIGKILLs it three times, restarts it and checks, through client, that the index converges to MySQL.
func killedDuringLoadConverges(t *testing.T, esURL string, client *es.Client) {
	bin := filepath.Join(t.TempDir(), "mysql-to-es")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	db.Exec(t, "DROP DATABASE IF EXISTS shop")
	for _, s := range schema {
		db.Exec(t, s)
	}
	db.Exec(t, "INSERT INTO shop.customers (name, email) VALUES ('c1', 'c1@example.com'), ('c2', 'c2@example.com')")
	env := []string{"SLUICE_MYSQL_DSN=" + db.DSN(""), "SLUICE_ES_URL=" + esURL, "SLUICE_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"SLUICE_BROKER_ADDR=" + testkit.FreeAddr(t), "SLUICE_HTTP_ADDR=" + testkit.FreeAddr(t)}
	// Real Kafka (SLUICE_TEST_KAFKA=real): three nodes, replication 3, running through the kills.
	env = append(env, testkit.KafkaEnv(t, 3)...)
	logs := filepath.Join(t.TempDir(), "runs.log") // every run's output, shown when the test fails
	t.Cleanup(func() {
		if b, _ := os.ReadFile(logs); t.Failed() {
			t.Logf("--- output of the runs ---\n%s", b)
		}
	})
	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), env...)
		f, err := os.OpenFile(logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close() // the child holds its own descriptor
		fmt.Fprintf(f, "--- run started at %s\n", time.Now().Format(time.RFC3339Nano))
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	// The load: 3,000 changes in small transactions: new customers and orders, updates of both, deletes.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var load sync.WaitGroup
	load.Add(1)
	changes := 0
	go func() {
		defer load.Done()
		for changes < 3000 {
			tx, err := db.DB().Begin()
			if err != nil {
				t.Error(err)
				return
			}
			for range 1 + rng.IntN(4) {
				var stmt string
				switch rng.IntN(6) {
				case 0:
					stmt = fmt.Sprintf("INSERT INTO shop.customers (name, email) VALUES ('c%d', 'c%d@example.com')", changes, changes)
				case 1, 2:
					stmt = fmt.Sprintf("INSERT INTO shop.orders (customer_id, amount, status, created_at) SELECT id, %d.%02d, 'new', NOW(6) FROM shop.customers ORDER BY RAND() LIMIT 1", rng.IntN(1000), rng.IntN(100))
				case 3:
					stmt = fmt.Sprintf("UPDATE shop.orders SET status = 's%d', amount = amount + 1 ORDER BY RAND() LIMIT 1", changes)
				case 4:
					stmt = fmt.Sprintf("UPDATE shop.customers SET name = 'renamed %d' ORDER BY RAND() LIMIT 1", changes)
				case 5:
					stmt = "DELETE FROM shop.orders ORDER BY RAND() LIMIT 1"
				}
				if _, err := tx.Exec(stmt); err != nil {
					t.Error(err)
					tx.Rollback()
					return
				}
				changes++
			}
			if err := tx.Commit(); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(8 * time.Millisecond) // paced, so that the kills land during the load
		}
	}()

	for kill := 1; kill <= 3; kill++ {
		cmd := start()
		time.Sleep(time.Duration(1500+rng.IntN(2500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		t.Logf("kill %d after %d changes", kill, changes)
	}
	load.Wait()
	final := start()
	defer func() {
		final.Process.Signal(syscall.SIGTERM)
		final.Wait()
	}()
	converge(t, client, fmt.Sprintf("after 3 SIGKILLs during %d changes", changes))
}
