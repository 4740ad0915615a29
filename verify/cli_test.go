package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/verify"
)

// buildSluice builds cmd/sluice into a temporary directory, as a user installs it.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sluicehq/sluice/cmd/sluice").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

// runSluice runs the binary and returns its stdout, stderr and exit code.
func runSluice(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("sluice %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), code
}

// The CLI on a small table: a table for people and JSON for scripts, exit 0 when equal, 1 with differences
// (listed exactly), 2 on error; --repair --wait re-sends the rows through the running pipeline and exits 0
// once the index verifies clean.
func TestVerifyCLI(t *testing.T) {
	db.Exec(t, "DROP DATABASE IF EXISTS vsmall", "CREATE DATABASE vsmall",
		"CREATE TABLE vsmall.t (id INT PRIMARY KEY, name VARCHAR(32) NOT NULL, amount DECIMAL(30,10) NULL, at DATETIME(3) NOT NULL)")
	var values []string
	for i := 1; i <= 50; i++ {
		values = append(values, "("+itoa(i)+", 'row "+itoa(i)+"', 12345678901234567890."+itoa(i)+", '2026-11-30 10:00:00.123')")
	}
	db.Exec(t, "INSERT INTO vsmall.t VALUES "+strings.Join(values, ","))
	bin := buildSluice(t)
	p := startPipeline(t, "vsmall.t", "small", 7302)
	waitCount(t, p, "small", 50, 2*time.Minute)

	base := []string{"verify", "--mysql-dsn", db.DSN(""), "--table", "vsmall.t", "--es-url", p.es.URL(), "--index", "small", "--settle", "1s"}
	stdout, stderr, code := runSluice(t, bin, base...)
	if code != 0 || !strings.Contains(stdout, "vsmall.t -> small: 50 rows, 50 documents, 0 missing, 0 extra, 0 different") {
		t.Fatalf("equal: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// stderr is no terminal here: progress comes as log lines, not a bar.
	if !strings.Contains(stderr, `msg="verify progress" phase=rows done=50`) || strings.Contains(stderr, "\r") {
		t.Errorf("progress on a non-terminal stderr:\n%s", stderr)
	}
	stdout, _, code = runSluice(t, bin, append(base, "-o", "json")...)
	var rep verify.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 0 || rep.Rows != 50 || rep.Documents != 50 || len(rep.Differences) != 0 {
		t.Fatalf("equal, -o json: exit %d, %v: %s", code, err, stdout)
	}

	deleteDoc(t, p, "small", "5")
	putDoc(t, p, "small", "999", map[string]any{"id": 999, "name": "ghost"})
	behindBinlog(t, "UPDATE vsmall.t SET amount = amount + 0.0000000001 WHERE id = 7")
	stdout, stderr, code = runSluice(t, bin, append(base, "-o", "json")...)
	rep = verify.Report{}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 1 {
		t.Fatalf("differences, -o json: exit %d (want 1), %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	want := []verify.Difference{
		{Kind: verify.Different, ID: "7", Key: []string{"7"}, Fields: []verify.FieldDifference{{Field: "amount",
			Source: `"12345678901234567890.7000000001"`, Index: `"12345678901234567890.7000000000"`}}},
		{Kind: verify.Extra, ID: "999", Key: []string{"999"}},
		{Kind: verify.Missing, ID: "5", Key: []string{"5"}},
	}
	if !slices.EqualFunc(rep.Differences, want, func(a, b verify.Difference) bool {
		return a.Kind == b.Kind && a.ID == b.ID && slices.Equal(a.Key, b.Key) && slices.Equal(a.Fields, b.Fields)
	}) {
		t.Errorf("differences:\n%+v\nwant\n%+v", rep.Differences, want)
	}
	stdout, _, code = runSluice(t, bin, base...)
	for _, line := range []string{`50 rows, 50 documents, 1 missing, 1 extra, 1 different`, `(?m)^KIND\s+ID\s+FIELD\s+SOURCE\s+INDEX$`,
		`(?m)^missing\s+5\s+-\s+-\s+-$`, `(?m)^extra\s+999\s+-`, `(?m)^different\s+7\s+amount\s+"12345678901234567890.7000000001"\s+"12345678901234567890.7000000000"$`} {
		if !regexp.MustCompile(line).MatchString(stdout) {
			t.Errorf("table output lacks %s (exit %d):\n%s", line, code, stdout)
		}
	}
	if code != 1 {
		t.Errorf("differences: exit %d, want 1", code)
	}

	stdout, stderr, code = runSluice(t, bin, append(base, "--repair", "--brokers", strings.Join(p.brokers, ","), "--wait", "1m")...)
	if code != 0 || !strings.Contains(stdout, "repair: 2 rows re-read, 1 keys deleted through the pipeline; verified clean") {
		t.Fatalf("--repair --wait: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, _, code = runSluice(t, bin, base...); code != 0 {
		t.Errorf("after the repair: exit %d, want 0", code)
	}

	// The topic's codecs count: read back with the schemaless json codec, the pipeline's documents would
	// carry the DATETIME as epoch microseconds, not the date the json-schema topic gives: every row differs
	// in "at" (the sampled codec round trip notices and takes every row through the codecs).
	cfg := verifyConfig(t, p, "vsmall.t", "small")
	cfg.ValueCodec = "json"
	v, err := verify.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	jsonRep, err := v.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if jsonRep.Different != 50 || jsonRep.Missing != 0 || jsonRep.Extra != 0 {
		t.Errorf("with the json codec: %d different, %d missing, %d extra; want 50 different", jsonRep.Different, jsonRep.Missing, jsonRep.Extra)
	}
	for _, d := range jsonRep.Differences {
		if len(d.Fields) != 2 || d.Fields[0].Field != "amount" || d.Fields[1].Field != "at" || !strings.HasPrefix(d.Fields[1].Index, `"2026-11-30T10:00:00.123Z`) {
			t.Errorf("with the json codec, document %s: %+v; want amount (a number, not the string) and at (epoch µs, not the date)", d.ID, d.Fields)
			break
		}
	}

	// Errors: exit 2, naming what is wrong.
	_, stderr, code = runSluice(t, bin, "verify", "--mysql-dsn", db.DSN(""), "--table", "vsmall.nope", "--es-url", p.es.URL(), "--index", "small")
	if code != 2 || !strings.Contains(stderr, "vsmall.nope") {
		t.Errorf("unknown table: exit %d, stderr %s", code, stderr)
	}
	_, stderr, code = runSluice(t, bin, append(base, "--repair")...)
	if code != 2 || !strings.Contains(stderr, "--brokers") {
		t.Errorf("--repair without brokers: exit %d, stderr %s", code, stderr)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
