package readme

import (
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
)

// TestOperatorCommands runs the README's Operator CLI commands that work over a running pipeline's API and
// over Kafka, from the README's text, against the main job: its API through SLUICE_API_URL and its
// embedded broker through SLUICE_BROKERS (the variables the README names as the commands' defaults).
// Documented alternatives are expanded (`pause|resume|stop ... [--wait]` is three commands with --wait;
// `restart [--flow F | --source S [--task T]]` is four), placeholders take the job's names (T: the flow's
// input topic), and `sluice tail lines -f` follows a topic the job has (sluice.shop.customers).
func TestOperatorCommands(t *testing.T) {
	needTools(t, "mariadb", "mariadbd", "mariadb-install-db")
	bins := binaries(t)
	job := mainJob{dir: t.TempDir(), es: freeAddr(t), http: freeAddr(t)}
	brokerAddr := freeAddr(t)
	job.env = []string{"SLUICE_ES_ADDR=" + job.es, "SLUICE_HTTP_ADDR=" + job.http, "SLUICE_BROKER_ADDR=" + brokerAddr}
	run, client := job.start(t, bins, "main job")
	env := []string{"SLUICE_API_URL=http://" + job.http, "SLUICE_BROKERS=" + brokerAddr}
	eventually(t, job.dir, nil, 30*time.Second, "curl -s '"+job.es+"/orders/_count'", "the snapshot's 5 orders indexed", func(out string) bool {
		return strings.Contains(out, `"count":5`)
	})

	cmd := func(prefix string) string { return readmeCommand(t, "Operator CLI", prefix) }
	ok := func(command string, check func(string) bool) string {
		t.Helper()
		out, err := shell(t, job.dir, env, 60*time.Second, command)
		if err != nil || (check != nil && !check(out)) {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
		t.Logf("$ %s\n%s", command, out)
		return out
	}
	has := func(words ...string) func(string) bool {
		return func(out string) bool {
			for _, w := range words {
				if !strings.Contains(out, w) {
					return false
				}
			}
			return true
		}
	}
	state := func() string {
		var st opsapi.Status
		out := ok(cmd("sluice status shop-search -o json"), nil)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("sluice status -o json: not the API's JSON (%v):\n%s", err, out)
		}
		return st.State
	}

	ok(cmd("sluice pipelines"), has("shop-search", "RUNNING"))
	ok(cmd("sluice status shop-search"), has("REPLICA", "mysql:sluice", "orders-index"))
	if s := state(); s != "RUNNING" {
		t.Fatalf("status -o json: state %s, want RUNNING", s)
	}
	ok(cmd("sluice offsets get shop-search"), has("cdc", "shop-search.orders-index"))
	// The least-privilege ACLs of the running job, as kafka-acls.sh lines for the bootstrap server given.
	ok(cmd("sluice acls shop-search"), has("kafka-acls.sh --bootstrap-server kafka:9092 --add --allow-principal User:sluice",
		"--topic shop-search.status", "--group shop-search.orders-index"))
	ok(cmd("sluice topics"), has("sluice.shop.orders", "sluice.shop.customers"))
	tail := ok(cmd("sluice tail sluice.shop.orders "), has("@"))
	if n := len(regexp.MustCompile(`(?m)^\d+@\d+`).FindAllString(tail, -1)); n != 5 {
		t.Errorf("sluice tail -n 5 showed %d records, want 5", n)
	}

	// sluice tail ... -f --from end: follows new records until Ctrl-C.
	follow := mustReplace(t, cmd("sluice tail lines -f"), "lines", "sluice.shop.customers")
	f := start(t, "sluice tail -f", job.dir, env, append([]string{bins + "/sluice"}, strings.Fields(follow)[1:]...)...)
	// --from end prints nothing until a record arrives: insert one every half second until it shows one.
	stopInserts := make(chan struct{})
	insertsDone := make(chan struct{})
	go func() {
		defer close(insertsDone)
		insert := client + ` -e "INSERT INTO customers (name, email) VALUES ('Follow Me', 'f@example.com')"`
		for {
			if out, err := shell(t, job.dir, nil, 30*time.Second, insert); err != nil {
				t.Errorf("%s: %v\n%s", insert, err, out)
				return
			}
			select {
			case <-stopInserts:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	stopped := false
	stopInserting := func() {
		if !stopped {
			stopped = true
			close(stopInserts)
			<-insertsDone
		}
	}
	defer stopInserting() // also when waitLine fails the test
	f.waitLine(0, regexp.MustCompile(`Follow Me`), 30*time.Second)
	stopInserting()
	f.signal(syscall.SIGINT)
	if code := f.wait(10 * time.Second); code != 0 {
		t.Errorf("sluice tail -f exited with status %d after Ctrl-C", code)
	}

	// pause|resume|stop shop-search [--wait], restart [--flow F | --source S [--task T]].
	lifecycle := cmd("sluice pause|resume|stop shop-search")
	for _, verb := range []string{"pause", "resume"} {
		ok(strings.NewReplacer("pause|resume|stop", verb, "[--wait]", "--wait").Replace(lifecycle), nil)
	}
	restart := cmd("sluice restart shop-search")
	for _, variant := range []string{"", "--flow orders-index", "--source cdc", "--source cdc --task mysql:sluice"} {
		ok(strings.Replace(restart, "[--flow F | --source S [--task T]]", variant, 1), nil)
	}
	eventually(t, job.dir, env, 60*time.Second, "sluice status shop-search -o json", "RUNNING after the restarts", has(`"state": "RUNNING"`))
	ok(strings.NewReplacer("pause|resume|stop", "stop", "[--wait]", "--wait").Replace(lifecycle), nil)
	if s := state(); s != "STOPPED" {
		t.Fatalf("after stop --wait: state %s, want STOPPED", s)
	}
	ok(mustReplace(t, cmd("sluice offsets set shop-search --group"), "--topic T", "--topic shop-search.orders-index.with-customer.out"), nil)
	ok(cmd("sluice offsets set shop-search --source cdc"), nil)
	ok(cmd("sluice offsets reset shop-search"), nil)
	ok(strings.NewReplacer("pause|resume|stop", "resume", "[--wait]", "--wait").Replace(lifecycle), nil)
	// Offsets reset: the source reads the tables again and the index still holds every order, renamed.
	rename := client + ` -e "UPDATE customers SET name='Ada After Reset' WHERE id=1"`
	if out, err := shell(t, job.dir, nil, 30*time.Second, rename); err != nil {
		t.Fatalf("%s: %v\n%s", rename, err, out)
	}
	eventually(t, job.dir, nil, 60*time.Second, "curl -s '"+job.es+"/orders/_doc/2'", "the pipeline carrying changes after the offsets reset", has("Ada After Reset"))
	run.signal(syscall.SIGINT)
	if code := run.wait(60 * time.Second); code != 0 {
		t.Errorf("the main job exited with status %d after SIGINT", code)
	}
}
