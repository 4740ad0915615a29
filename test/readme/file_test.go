package readme

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFileCommands runs the README's file -> Kafka -> file commands and the Operator CLI commands about
// files, from the README's text: the file example on its created demo input, `echo hello >>` it, `sluice
// positions` and `sluice tail lines -f` against its embedded broker, the example on a glob of the test's own
// log files, and `sluice run --name logs --from file ... --to topic` chained into `sluice run --name
// events-es --from topic ...` on a shared `sluice broker`. Substituted: addresses, /tmp/copy.log (a file of
// the test's directory), the globs ('/var/log/*.log', '/var/log/app/*.log': files the test writes) and, for
// events-es, its topic (the logs run's app-logs, so that one feeds the other).
func TestFileCommands(t *testing.T) {
	needTools(t, "curl")
	bins := binaries(t)
	cmds := sectionCommands(t, "The same on PostgreSQL") // the file example's block follows that heading
	var fileCmds []string
	for _, c := range cmds {
		if strings.HasPrefix(c, "go run ./examples/file-to-file") || strings.HasPrefix(c, "echo ") {
			fileCmds = append(fileCmds, c)
		}
	}
	if len(fileCmds) != 3 {
		t.Fatalf("the README's file example block: %d commands, the test knows 3: %q", len(fileCmds), fileCmds)
	}

	// 1. The example on its demo input; echo a line into it; positions; tail -f.
	dir := t.TempDir()
	brokerAddr := freeAddr(t)
	env := []string{"SLUICE_BROKER_ADDR=" + brokerAddr, "SLUICE_HTTP_ADDR=" + freeAddr(t)}
	copyLog := filepath.Join(dir, "copy.log")
	first := mustReplace(t, fileCmds[0], "/tmp/copy.log", copyLog)
	job := start(t, "file-to-file", dir, env, append([]string{bins + "/file-to-file"}, strings.Fields(first)[3:]...)...)
	job.waitLine(0, regexp.MustCompile(`^input: +sluice-data/demo-input.log`), 30*time.Second)
	lines := func(path string, n int) func() bool {
		return func() bool {
			data, _ := os.ReadFile(path)
			return strings.Count(string(data), "\n") >= n
		}
	}
	poll(t, 30*time.Second, "the demo input's three lines in "+copyLog, lines(copyLog, 3))
	if out, err := shell(t, dir, nil, 10*time.Second, fileCmds[1]); err != nil {
		t.Fatalf("%s: %v\n%s", fileCmds[1], err, out)
	}
	poll(t, 30*time.Second, "hello in "+copyLog, func() bool {
		data, _ := os.ReadFile(copyLog)
		return strings.Contains(string(data), "hello\n")
	})
	positions := mustReplace(t, readmeCommand(t, "Operator CLI", "sluice positions"), "127.0.0.1:9092", brokerAddr)
	if out, err := shell(t, dir, nil, 30*time.Second, positions); err != nil || !strings.Contains(out, "demo-input.log") {
		t.Errorf("%s: %v, want the demo input's task:\n%s", positions, err, out)
	}
	follow := readmeCommand(t, "Operator CLI", "sluice tail lines -f")
	tail := start(t, "sluice tail -f", dir, []string{"SLUICE_BROKERS=" + brokerAddr}, append([]string{bins + "/sluice"}, strings.Fields(follow)[1:]...)...)
	poll(t, 30*time.Second, "sluice tail lines -f showing an appended line", func() bool {
		appendLine(t, filepath.Join(dir, "sluice-data", "demo-input.log"), "followed")
		return strings.Contains(tail.output(), "followed")
	})
	tail.signal(syscall.SIGINT)
	tail.wait(10 * time.Second)
	job.signal(syscall.SIGINT)
	if code := job.wait(60 * time.Second); code != 0 {
		t.Fatalf("file-to-file exited with status %d after Ctrl-C", code)
	}

	// 2. The example on a glob of your own files.
	dir2 := t.TempDir()
	logs := filepath.Join(dir2, "logs")
	os.MkdirAll(logs, 0o755)
	appendLine(t, filepath.Join(logs, "a.log"), "from a")
	appendLine(t, filepath.Join(logs, "b.log"), "from b")
	copy2 := filepath.Join(dir2, "copy.log")
	globCmd := mustReplace(t, mustReplace(t, fileCmds[2], "/var/log/*.log", logs+"/*.log"), "/tmp/copy.log", copy2)
	env2 := []string{"SLUICE_BROKER_ADDR=" + freeAddr(t), "SLUICE_HTTP_ADDR=" + freeAddr(t)}
	job2 := start(t, "file-to-file (glob)", dir2, env2, "bash", "-c", "exec "+strings.Replace(globCmd, "go run ./examples/file-to-file", bins+"/file-to-file", 1))
	poll(t, 30*time.Second, "both files' lines in "+copy2, func() bool {
		data, _ := os.ReadFile(copy2)
		return strings.Contains(string(data), "from a") && strings.Contains(string(data), "from b")
	})
	job2.signal(syscall.SIGINT)
	if code := job2.wait(60 * time.Second); code != 0 {
		t.Fatalf("file-to-file on a glob exited with status %d after Ctrl-C", code)
	}

	// 3. sluice run: files into a topic, and that topic into Elasticsearch, on one shared broker.
	dir3 := t.TempDir()
	shared, esAddr := freeAddr(t), freeAddr(t)
	brokerCmd := mustReplace(t, readmeCommand(t, "Operator CLI", "sluice broker "), "127.0.0.1:9092", shared)
	start(t, "broker", dir3, nil, append([]string{bins + "/sluice"}, strings.Fields(brokerCmd)[1:]...)...).
		waitLine(0, regexp.MustCompile(`^broker listening on `), 30*time.Second)
	es := mustReplace(t, readmeCommand(t, "Operator CLI", "sluice es serve"), "127.0.0.1:9200", esAddr)
	start(t, "es", dir3, nil, append([]string{bins + "/sluice"}, strings.Fields(es)[1:]...)...).waitLine(0, esListening, 30*time.Second)
	appLogs := filepath.Join(dir3, "app")
	os.MkdirAll(appLogs, 0o755)
	for i := 0; i < 5; i++ {
		appendLine(t, filepath.Join(appLogs, "x.log"), fmt.Sprintf(`{"n":%d,"msg":"line %d"}`, i, i))
	}
	runEnv := []string{"SLUICE_BROKERS=" + shared, "SLUICE_ES_URL=http://" + esAddr}
	logsCmd := mustReplace(t, readmeCommand(t, "Operator CLI", "sluice run --name logs"), "/var/log/app/*.log", appLogs+"/*.log")
	logsRun := start(t, "sluice run logs", dir3, append(runEnv, "SLUICE_HTTP_ADDR="+freeAddr(t)), "bash", "-c", "PATH="+bins+":$PATH exec "+logsCmd)
	tailCmd := "sluice tail app-logs -n 5"
	eventually(t, dir3, runEnv, 30*time.Second, tailCmd, "five lines in app-logs", func(out string) bool {
		return strings.Contains(out, "line 4")
	})
	eventsCmd := mustReplace(t, readmeCommand(t, "Operator CLI", "sluice run --name events-es"), "--topic events", "--topic app-logs")
	eventsRun := start(t, "sluice run events-es", dir3, append(runEnv, "SLUICE_HTTP_ADDR="+freeAddr(t)), "bash", "-c", "PATH="+bins+":$PATH exec "+eventsCmd)
	eventually(t, dir3, nil, 60*time.Second, "curl -s 'http://"+esAddr+"/events/_count'", "five documents in events", func(out string) bool {
		return strings.Contains(out, `"count":5`)
	})
	for _, p := range []*proc{eventsRun, logsRun} {
		p.signal(syscall.SIGINT)
		if code := p.wait(60 * time.Second); code != 0 {
			t.Errorf("%s exited with status %d after Ctrl-C", p.name, code)
		}
	}
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

// poll waits up to timeout for cond, checking every 250 ms.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %v", what, timeout)
		}
		time.Sleep(250 * time.Millisecond) // the poll interval of a condition
	}
}
