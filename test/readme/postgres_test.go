package readme

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgDSN is the DSN the PostgreSQL twin prints for its private server.
var pgDSN = regexp.MustCompile(`postgres://postgres@(127\.0\.0\.1:\d+)/shop`)

// TestPostgresWalkthrough runs README.md's "The same on PostgreSQL" block from its text: the PostgreSQL
// twin of the main job (built, signalled as Ctrl-C), the psql update with the DSN it prints, and the curl
// that shows the changed order. Substituted: the addresses (SLUICE_ES_ADDR for 127.0.0.1:9200,
// SLUICE_HTTP_ADDR, SLUICE_BROKER_ADDR) and the PostgreSQL address the job prints for the README's example.
func TestPostgresWalkthrough(t *testing.T) {
	needTools(t, "curl", "psql")
	bins := binaries(t)
	var cmds []string
	for _, c := range sectionCommands(t, "The same on PostgreSQL") {
		if !strings.HasPrefix(c, "go run ./examples/file-to-file") && !strings.HasPrefix(c, "echo ") {
			cmds = append(cmds, c)
		}
	}
	dir, es := t.TempDir(), freeAddr(t)
	env := []string{"SLUICE_ES_ADDR=" + es, "SLUICE_HTTP_ADDR=" + freeAddr(t), "SLUICE_BROKER_ADDR=" + freeAddr(t)}
	var job *proc
	var pgAddr string
	updated := false
	for _, c := range cmds {
		switch fields := strings.Fields(c); {
		case c == "go run ./examples/postgres-to-es":
			job = start(t, "postgres-to-es", dir, env, bins+"/postgres-to-es")
			m, next := job.waitLine(0, pgDSN, 2*time.Minute)
			pgAddr = m[1]
			job.waitLine(next, progressLine, 60*time.Second)
			eventually(t, dir, nil, 30*time.Second, "curl -s '"+es+"/orders/_doc/2'", "order 2 indexed", func(out string) bool {
				return strings.Contains(out, "Ada Lovelace")
			})
		case fields[0] == "psql":
			readmeAddr := pgDSN.FindStringSubmatch(c)
			if readmeAddr == nil || job == nil {
				t.Fatalf("README: %q names no postgres://postgres@127.0.0.1:PORT/shop DSN, or comes before the job", c)
			}
			cmd := strings.Replace(c, readmeAddr[1], pgAddr, 1)
			if out, err := shell(t, dir, nil, 30*time.Second, cmd); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
			updated = true
		case fields[0] == "curl" && strings.Contains(c, "/orders/_doc/2"):
			cmd := mustReplace(t, c, "127.0.0.1:9200", es)
			eventually(t, dir, nil, 30*time.Second, cmd, "order 2 carries 'Ada King'", func(out string) bool {
				return updated && strings.Contains(out, "Ada King")
			})
		default:
			t.Fatalf("README: the test does not know how to run %q; teach it", c)
		}
	}
	if job == nil || !updated {
		t.Fatalf("README: the PostgreSQL block should start the job and update a customer: %q", cmds)
	}
	job.signal(syscall.SIGINT)
	if code := job.wait(60 * time.Second); code != 0 {
		t.Fatalf("postgres-to-es exited with status %d after Ctrl-C", code)
	}
}
