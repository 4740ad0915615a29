package readme

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clientLine is the copyable MariaDB client line the main job prints ("mysql:    mariadb -h H -P N -u root
// shop") and the same prefix of the README's mariadb command.
var clientLine = regexp.MustCompile(`mariadb -h ?(\S+) -P ?(\d+) -u ?\S+ \w+`)

// progressLine is the main job's progress line; its first number is the rows captured by this process.
var progressLine = regexp.MustCompile(`^progress: .*?(\d+) rows captured`)

// mainJob is the main job of the walkthrough on this test's addresses: run in dir, so that its data is in
// dir/sluice-data, as the README's default ./sluice-data.
type mainJob struct {
	dir  string
	env  []string // the addresses, through the variables the README names
	es   string   // SLUICE_ES_ADDR
	http string   // SLUICE_HTTP_ADDR
	args []string // the README's `go run` arguments after the package
}

// TestWalkthrough is acceptance 1 of issue 24 for README.md's "Five minutes with the main job": it runs
// the section's commands as a user would, in their order, from the README's own text. Only what must
// differ per run is substituted: the addresses (through SLUICE_ES_ADDR, SLUICE_HTTP_ADDR and
// SLUICE_BROKER_ADDR, in place of 127.0.0.1:9200 in the curl lines), the MariaDB port (the job's printed
// client line in place of the README's example), and `go run` becomes the built binary, which the test
// signals as Ctrl-C would. Then it stops the job with SIGINT (exit 0), starts it again on the same data
// dir and sees it resume: the same MariaDB port, the index kept, no snapshot read again, and a new
// change carried.
func TestWalkthrough(t *testing.T) {
	needTools(t, "curl", "mariadb", "mariadbd", "mariadb-install-db")
	bins := binaries(t)
	cmds := shellCommands(sectionBlocks(t, "Five minutes with the main job", "sh")[0].text)

	job := mainJob{dir: t.TempDir(), es: freeAddr(t), http: freeAddr(t)}
	job.env = []string{"SLUICE_ES_ADDR=" + job.es, "SLUICE_HTTP_ADDR=" + job.http, "SLUICE_BROKER_ADDR=" + freeAddr(t)}
	const readmeES = "127.0.0.1:9200"

	var run *proc
	var client string // the job's printed mariadb line
	started := time.Now()
	searched, updated := false, false
	for _, c := range cmds {
		fields := strings.Fields(c)
		switch {
		case fields[0] == "go" && fields[1] == "run" && fields[2] == "./examples/mysql-to-es":
			job.args = fields[3:]
			run, client = job.start(t, bins, "main job")
			t.Logf("first progress line %.1fs after start", time.Since(started).Seconds())
		case fields[0] == "curl":
			if run == nil {
				t.Fatalf("README walkthrough: %q comes before the job is started", c)
			}
			cmd := strings.ReplaceAll(c, readmeES, job.es)
			if cmd == c {
				t.Fatalf("README walkthrough: %q does not name %s, the address the test moves", c, readmeES)
			}
			switch {
			case strings.Contains(c, "/orders/_search"):
				want := "Ada Lovelace"
				if updated {
					want = "Ada King"
				}
				out := eventually(t, job.dir, nil, 30*time.Second, cmd, "the search finds customer "+want, func(out string) bool {
					return strings.Contains(out, want) && strings.Contains(out, `"customer"`)
				})
				checkPretty(t, c, out)
				searched = true
			case strings.Contains(c, "/orders/_doc/2"):
				out := eventually(t, job.dir, nil, 30*time.Second, cmd, "order 2 carries 'Ada King'", func(out string) bool {
					return strings.Contains(out, "Ada King")
				})
				checkPretty(t, c, out)
			case strings.Contains(c, "/orders/_mapping"):
				out := eventually(t, job.dir, nil, 10*time.Second, cmd, "the mapping from the schema", func(out string) bool {
					return strings.Contains(out, `"scaled_float"`) && strings.Contains(out, `"date"`)
				})
				checkPretty(t, c, out)
			default:
				t.Fatalf("README walkthrough: the test does not know what %q should show; teach it", c)
			}
		case fields[0] == "mariadb":
			if !clientLine.MatchString(c) {
				t.Fatalf("README walkthrough: %q does not start with a client line like the job's (%s)", c, clientLine)
			}
			cmd := clientLine.ReplaceAllLiteralString(c, client)
			if out, err := shell(t, job.dir, nil, 30*time.Second, cmd); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
			updated = true
		default:
			t.Fatalf("README walkthrough: the test does not know how to run %q; teach it", c)
		}
	}
	if run == nil || !searched || !updated {
		t.Fatalf("README walkthrough: expected go run, a search and an update; the block holds %q", cmds)
	}

	// "Stop it (Ctrl-C, or kill it) and start it again: it resumes from its saved positions."
	stopAt := time.Now()
	run.signal(syscall.SIGINT)
	if code := run.wait(60 * time.Second); code != 0 {
		t.Fatalf("the main job exited with status %d after Ctrl-C (SIGINT); the README says a first Ctrl-C stops cleanly", code)
	}
	t.Logf("stopped by SIGINT in %.1fs", time.Since(stopAt).Seconds())
	again, client2 := job.start(t, bins, "main job (restarted)")
	if client2 != client {
		t.Errorf("after a restart the job prints %q, before %q: the README says the printed mariadb line stays good", client2, client)
	}
	m, _ := again.waitLine(0, progressLine, 30*time.Second)
	if n, _ := strconv.Atoi(m[1]); n >= 8 { // 3 customers + 5 orders: a new snapshot would read them all
		t.Errorf("the restarted job's first progress line reports %d rows captured: it read the tables again instead of resuming", n)
	}
	t.Logf("restarted: %s", m[0])
	eventually(t, job.dir, nil, 30*time.Second, "curl -s '"+job.es+"/orders/_doc/2'", "order 2 still carries 'Ada King' after the restart", func(out string) bool {
		return strings.Contains(out, "Ada King")
	})
	update := client2 + ` -e "UPDATE customers SET name='Ada Byron' WHERE id=1"`
	if out, err := shell(t, job.dir, nil, 30*time.Second, update); err != nil {
		t.Fatalf("%s: %v\n%s", update, err, out)
	}
	eventually(t, job.dir, nil, 30*time.Second, "curl -s '"+job.es+"/orders/_doc/1'", "order 1 carries 'Ada Byron' after the restart", func(out string) bool {
		return strings.Contains(out, "Ada Byron")
	})
	again.signal(syscall.SIGINT)
	if code := again.wait(60 * time.Second); code != 0 {
		t.Fatalf("the restarted main job exited with status %d after SIGINT", code)
	}
	t.Logf("walkthrough done in %.1fs", time.Since(started).Seconds())
}

// start runs the main job and waits for its client line and first progress line, as the README says to
// expect; it returns the job and the client line.
func (j mainJob) start(t *testing.T, bins, name string) (*proc, string) {
	t.Helper()
	p := start(t, name, j.dir, j.env, append([]string{bins + "/mysql-to-es"}, j.args...)...)
	m, next := p.waitLine(0, clientLine, 90*time.Second)
	p.waitLine(next, progressLine, 60*time.Second)
	return p, m[0]
}

// checkPretty fails unless a command that asks for ?pretty got indented JSON.
func checkPretty(t *testing.T, command, out string) {
	t.Helper()
	if strings.Contains(command, "pretty") && !strings.Contains(out, "\n  \"") {
		t.Errorf("%s: asks for ?pretty but the answer is not indented:\n%s", command, out)
	}
}
