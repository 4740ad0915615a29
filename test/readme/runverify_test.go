package readme

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mariadbtest"
)

// TestRunAndVerify runs, from the README's text, `sluice es serve`, the ad-hoc `sluice run --name
// orders-es --from mysql ... --to elasticsearch` pipeline, the Elasticsearch section's `_cat/indices`,
// the three `sluice verify` commands, and `sluice run --config orders-es.yaml`. Substituted: addresses
// (the MariaDB's DSN for 'user:pw@tcp(127.0.0.1:3306)/', the server's address for 127.0.0.1:9200, the
// run's embedded broker for 127.0.0.1:9092), and `...` in the verify lines, which stands for the first
// verify line's flags plus `--topic-prefix orders-es` (the README: "the --name of sluice run").
func TestRunAndVerify(t *testing.T) {
	needTools(t, "curl", "mariadbd", "mariadb-install-db")
	bins := binaries(t)
	dir := t.TempDir()
	db := mariadbtest.Start(t)
	execSQL(t, db.DB(), "CREATE DATABASE IF NOT EXISTS shop")
	execSQL(t, db.DB(), `CREATE TABLE shop.orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, customer_id BIGINT NOT NULL,
		amount DECIMAL(12,2) NOT NULL, status VARCHAR(32) NOT NULL, created_at DATETIME(6) NOT NULL)`)
	for i := 0; i < 20; i++ {
		execSQL(t, db.DB(), fmt.Sprintf("INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (%d, %d.%02d, 'new', NOW(6))", i%3, i, i))
	}
	dsn := fmt.Sprintf("root@tcp(127.0.0.1:%d)/", db.Port)
	esAddr, brokerAddr := freeAddr(t), freeAddr(t)

	es := mustReplace(t, readmeCommand(t, "Operator CLI", "sluice es serve"), "127.0.0.1:9200", esAddr)
	start(t, "es", dir, nil, append([]string{bins + "/sluice"}, strings.Fields(es)[1:]...)...).waitLine(0, esListening, 30*time.Second)

	subst := strings.NewReplacer("user:pw@tcp(127.0.0.1:3306)/", dsn, "127.0.0.1:9200", esAddr, "127.0.0.1:9092", brokerAddr)
	runCmd := readmeCommand(t, "Operator CLI", "sluice run --name orders-es")
	runEnv := []string{"SLUICE_BROKER_ADDR=" + brokerAddr, "SLUICE_HTTP_ADDR=" + freeAddr(t)}
	run := start(t, "sluice run", dir, runEnv, "bash", "-c", "PATH="+bins+":$PATH exec "+subst.Replace(runCmd))
	countIs := func(n int) func(string) bool {
		return func(out string) bool { return strings.Contains(out, fmt.Sprintf(`"count":%d`, n)) }
	}
	eventually(t, dir, nil, 60*time.Second, "curl -s 'http://"+esAddr+"/orders/_count'", "20 orders indexed by sluice run", countIs(20))

	cat := mustReplace(t, readmeCommand(t, "Elasticsearch without Elasticsearch", "curl"), "127.0.0.1:9200", esAddr)
	if out, err := shell(t, dir, nil, 10*time.Second, cat); err != nil || !strings.Contains(out, "orders") {
		t.Errorf("%s: %v\n%s", cat, err, out)
	}

	verifyCmds := sectionCommands(t, "Proving the index equals the table: `sluice verify`")
	if len(verifyCmds) != 3 {
		t.Fatalf("the verify section shows %d commands, the test knows 3: %q", len(verifyCmds), verifyCmds)
	}
	first := subst.Replace(verifyCmds[0])
	flags := strings.TrimPrefix(first, "sluice verify") + " --topic-prefix orders-es"
	expand := func(c string) string { return strings.Replace(subst.Replace(c), "...", flags, 1) }
	if out, err := shell(t, dir, nil, 2*time.Minute, first); err != nil {
		t.Fatalf("%s: %v (want exit 0: the index equals the table)\n%s", first, err, out)
	}
	out, stderr, err := shellSplit(t, dir, nil, 2*time.Minute, expand(verifyCmds[1]))
	var report struct {
		Rows, Documents int
	}
	if err != nil || json.Unmarshal([]byte(out), &report) != nil || report.Rows != 20 || report.Documents != 20 {
		t.Fatalf("%s: %v, want a JSON report of 20 rows and documents:\n%s%s", expand(verifyCmds[1]), err, out, stderr)
	}

	// A document lost behind the pipeline's back: verify reports it (1), --repair --wait re-sends it (0).
	if out, err := shell(t, dir, nil, 10*time.Second, "curl -s -XDELETE 'http://"+esAddr+"/orders/_doc/7?refresh=true'"); err != nil {
		t.Fatalf("deleting document 7: %v\n%s", err, out)
	}
	out, err = shell(t, dir, nil, 2*time.Minute, first+" --settle 1s")
	if code := exitCode(err); code != 1 {
		t.Fatalf("%s after a document was deleted: exit %d (%v), want 1\n%s", first, code, err, out)
	}
	repair := expand(verifyCmds[2])
	if out, err := shell(t, dir, nil, 2*time.Minute, repair); err != nil {
		t.Fatalf("%s: %v (want exit 0: repaired)\n%s", repair, err, out)
	}
	eventually(t, dir, nil, 30*time.Second, "curl -s 'http://"+esAddr+"/orders/_count'", "document 7 back", countIs(20))

	// A second run with the same settings from a file (`--config orders-es.yaml`) goes on from the positions.
	run.signal(syscall.SIGINT)
	if code := run.wait(60 * time.Second); code != 0 {
		t.Fatalf("sluice run exited with status %d after Ctrl-C", code)
	}
	yaml := fmt.Sprintf("name: orders-es\nfrom: mysql\nmysql-dsn: '%s'\ntables: [shop.orders]\nto: elasticsearch\nes-url: http://%s\nindex: orders\n", dsn, esAddr)
	if err := os.WriteFile(filepath.Join(dir, "orders-es.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	configCmd := readmeCommand(t, "Operator CLI", "sluice run --config orders-es.yaml")
	again := start(t, "sluice run --config", dir, runEnv, "bash", "-c", "PATH="+bins+":$PATH exec "+configCmd)
	execSQL(t, db.DB(), "INSERT INTO shop.orders (customer_id, amount, status, created_at) VALUES (1, 1.00, 'new', NOW(6))")
	eventually(t, dir, nil, 60*time.Second, "curl -s 'http://"+esAddr+"/orders/_count'", "the new order indexed by the --config run", countIs(21))
	again.signal(syscall.SIGINT)
	if code := again.wait(60 * time.Second); code != 0 {
		t.Fatalf("sluice run --config exited with status %d after Ctrl-C", code)
	}
	// "a second run with the same --name goes on from the saved positions": no second snapshot.
	const snapshot = `msg="snapshot started"`
	if !strings.Contains(run.output(), snapshot) {
		t.Errorf("the first sluice run logged no %s line; the check below would prove nothing", snapshot)
	} else if strings.Contains(again.output(), snapshot) {
		t.Errorf("the --config run with the same --name took a snapshot again instead of going on from the saved positions")
	}
}

// esListening is the line `sluice es serve` prints once it accepts connections.
var esListening = regexp.MustCompile(`^Elasticsearch-compatible server on http://`)

// sectionCommands returns the commands of README.md's sh blocks under section.
func sectionCommands(t *testing.T, section string) []string {
	t.Helper()
	var cmds []string
	for _, b := range sectionBlocks(t, section, "sh") {
		cmds = append(cmds, shellCommands(b.text)...)
	}
	return cmds
}

// exitCode is a command's exit status from shell's error (0 for nil, -1 when it did not exit).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee interface{ ExitCode() int }
	if e, ok := err.(interface{ ExitCode() int }); ok {
		ee = e
		return ee.ExitCode()
	}
	return -1
}
