package readme

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/internal/opsapi"
)

// servingLine is the pipeline's log line naming where it serves HTTP (the operator API).
var servingLine = regexp.MustCompile(`msg="serving metrics and the operator API".* addr=(\S+)`)

// TestReplicasRecipe is acceptance 1 of issue 24 for README.md's replicas recipe: "Start the same binary
// twice with the same pipeline name and SLUICE_BROKERS", on one broker started as the README's Operator
// CLI section shows (`sluice broker ... --data-dir ./shared-data`) and one Elasticsearch-compatible server
// (`sluice es serve`, from its section), both from the README's text with only ports and directories
// moved. The two copies of the main job share one MariaDB (SLUICE_MYSQL_DSN) and leave SLUICE_HTTP_ADDR
// unset, as the recipe does. Orders are inserted throughout; once both replicas are in the groups, one is
// SIGKILLed, a customer is renamed, and the survivor must index every order and the rename: nothing is
// lost. SLUICE_SESSION_TIMEOUT is the documented minimum, 7s, to keep the takeover short.
func TestReplicasRecipe(t *testing.T) {
	needTools(t, "mariadbd", "mariadb-install-db")
	bins := binaries(t)
	dir := t.TempDir()

	brokerAddr, esAddr := freeAddr(t), freeAddr(t)
	brokerCmd := readmeCommand(t, "Operator CLI", "sluice broker ")
	brokerCmd = mustReplace(t, brokerCmd, "127.0.0.1:9092", brokerAddr)
	start(t, "broker", dir, nil, append([]string{bins + "/sluice"}, strings.Fields(brokerCmd)[1:]...)...).
		waitLine(0, regexp.MustCompile(`^broker listening on `), 30*time.Second)

	esCmd := readmeCommand(t, "Elasticsearch without Elasticsearch", "go run ./cmd/sluice es serve")
	esCmd = mustReplace(t, esCmd, "127.0.0.1:9200", esAddr)
	esCmd = mustReplace(t, esCmd, "/tmp/es", dir+"/es")
	start(t, "es", dir, nil, append([]string{bins + "/sluice"}, strings.Fields(esCmd)[3:]...)...).waitLine(0, esListening, 30*time.Second)

	db := mariadbtest.Start(t)
	env := []string{"SLUICE_BROKERS=" + brokerAddr, "SLUICE_MYSQL_DSN=" + db.DSN(""), "SLUICE_ES_URL=http://" + esAddr,
		"SLUICE_SESSION_TIMEOUT=7s"}

	replica := func(name string) (*proc, string) {
		rdir := t.TempDir()
		p := start(t, name, rdir, env, bins+"/mysql-to-es")
		m, _ := p.waitLine(0, servingLine, 90*time.Second)
		return p, m[1]
	}
	a, aAPI := replica("replica A")
	b, bAPI := replica("replica B")
	b.waitLine(0, progressLine, 60*time.Second)

	// `sluice pipelines` (the README's command) on B's API lists shop-search.
	apiEnv := []string{"SLUICE_API_URL=http://" + bAPI}
	if out, err := shell(t, dir, apiEnv, 20*time.Second, "sluice pipelines"); err != nil || !strings.Contains(out, "shop-search") {
		t.Fatalf("sluice pipelines: %v\n%s", err, out)
	}
	// Both replicas share the work: every task and partition RUNNING, owned by the two of them.
	var shared opsapi.Status
	eventually(t, dir, apiEnv, 90*time.Second, "sluice status shop-search -o json", "the two replicas sharing the work", func(out string) bool {
		shared = opsapi.Status{}
		if json.Unmarshal([]byte(out), &shared) != nil || shared.State != "RUNNING" || len(shared.Replicas) != 2 || len(shared.Tasks) == 0 {
			return false
		}
		owners := map[string]bool{}
		for _, task := range shared.Tasks {
			if task.State != "RUNNING" || task.Replica == "" {
				return false
			}
			owners[task.Replica] = true
		}
		for _, p := range shared.Partitions {
			if p.State != "RUNNING" || p.Replica == "" {
				return false
			}
			owners[p.Replica] = true
		}
		return len(owners) == 2
	})
	// SIGKILL the replica that runs the change data capture task: its task and its partitions must move.
	owner := shared.Tasks[0].Replica
	var victim, survivor *proc
	var survivorAPI string
	switch { // a replica's id names its process id
	case strings.Contains(owner, fmt.Sprintf("-%d-", a.cmd.Process.Pid)):
		victim, survivor, survivorAPI = a, b, bAPI
	case strings.Contains(owner, fmt.Sprintf("-%d-", b.cmd.Process.Pid)):
		victim, survivor, survivorAPI = b, a, aAPI
	default:
		t.Fatalf("task %s runs on replica %q, which names neither process (%d, %d)", shared.Tasks[0].Task, owner, a.cmd.Process.Pid, b.cmd.Process.Pid)
	}
	apiEnv = []string{"SLUICE_API_URL=http://" + survivorAPI}
	t.Logf("%s runs task %s; it will be SIGKILLed", victim.name, shared.Tasks[0].Task)

	// Orders go in throughout, from before the kill until the survivor has had time to take over.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inserted := make(chan int, 1)
	go func() {
		n := 0
		defer func() { inserted <- n }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := db.DB().ExecContext(ictx, "INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (?, 1.25, 'new', NOW(6))", 1+n%3)
			icancel()
			if err == nil {
				n++
			}
		}
	}()
	time.Sleep(2 * time.Second) // load before the kill: a duration of the scenario, not a synchronisation
	killed := time.Now()
	victim.signal(syscall.SIGKILL)
	victim.wait(10 * time.Second)
	execSQL(t, db.DB(), "UPDATE shop.customers SET name = 'Grace Replica' WHERE id = 2")
	time.Sleep(3 * time.Second) // load after the kill, likewise
	cancel()
	n := <-inserted
	total := count(t, db.DB(), "SELECT COUNT(*) FROM shop.orders")
	grace := count(t, db.DB(), "SELECT COUNT(*) FROM shop.orders WHERE customer_id = 2")
	t.Logf("%d orders inserted under load (%d in all, %d of customer 2)", n, total, grace)

	deadline := time.Now().Add(60 * time.Second)
	for {
		// MySQL is counted again each time: an INSERT cancelled with the load's context may still commit
		// on the server after the first count.
		total = count(t, db.DB(), "SELECT COUNT(*) FROM shop.orders")
		grace = count(t, db.DB(), "SELECT COUNT(*) FROM shop.orders WHERE customer_id = 2")
		indexed, errI := esCount(context.Background(), esAddr, "")
		renamed, errR := esCount(context.Background(), esAddr, "customer.name:replica")
		if errI == nil && errR == nil && indexed == total && renamed == grace {
			t.Logf("the survivor indexed all %d orders and the rename %.1fs after the kill", total, time.Since(killed).Seconds())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("60s after %s was SIGKILLed: %d of %d orders indexed (%v), %d of %d carry the rename (%v): work was lost",
				victim.name, indexed, total, errI, renamed, grace, errR)
		}
		time.Sleep(250 * time.Millisecond) // the poll interval of a condition
	}
	if out, err := shell(t, dir, apiEnv, 20*time.Second, "sluice status shop-search"); err == nil {
		t.Logf("after the takeover:\n%s", out)
	}
	survivor.signal(syscall.SIGINT)
	if code := survivor.wait(60 * time.Second); code != 0 {
		t.Errorf("%s exited with status %d after SIGINT", survivor.name, code)
	}
}

// readmeCommand returns the command of a README sh block under section that is prefix, or else the first
// that starts with prefix.
func readmeCommand(t *testing.T, section, prefix string) string {
	t.Helper()
	var cmds []string
	for _, b := range sectionBlocks(t, section, "sh") {
		cmds = append(cmds, shellCommands(b.text)...)
	}
	for _, c := range cmds {
		if c == prefix {
			return c
		}
	}
	for _, c := range cmds {
		if strings.HasPrefix(c, prefix) {
			return c
		}
	}
	t.Fatalf("README.md's %q section shows no command starting %q", section, prefix)
	return ""
}

// mustReplace replaces old in a README command, failing when the README no longer says old.
func mustReplace(t *testing.T, command, old, new string) string {
	t.Helper()
	if !strings.Contains(command, old) {
		t.Fatalf("README command %q no longer says %s, which the test moves", command, old)
	}
	return strings.ReplaceAll(command, old, new)
}

func execSQL(t *testing.T, db *sql.DB, statement string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, statement); err != nil {
		t.Fatalf("%s: %v", statement, err)
	}
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// esCount is the orders index's document count (matching q, a query string, when not empty) after a refresh.
func esCount(ctx context.Context, addr, q string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	base := "http://" + addr + "/orders"
	if req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_refresh", nil); err == nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	u := base + "/_count"
	if q != "" {
		u += "?q=" + q
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Count int `json:"count"`
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("GET %s: %w", u, err)
	}
	return body.Count, nil
}
