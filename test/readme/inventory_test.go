package readme

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// exercised says, for every shell command README.md shows and every command line in a Go package's doc
// comment, which test of this package runs it, or why none does. The commands are written as the
// documents write them (continuation lines joined, trailing comments dropped); a command that changes in
// the documents fails TestEveryCommandIsExercised until this table, and the test that runs it, follow.
var exercised = map[string]string{
	// README.md
	"go run ./examples/mysql-to-es": "TestWalkthrough (built, then signalled as Ctrl-C)",
	"make test":                     "excluded: it is the run that contains these tests",
	"curl -s '127.0.0.1:9200/orders/_search?q=customer.name:ada&pretty'":                                          "TestWalkthrough",
	"mariadb -h 127.0.0.1 -P 43285 -u root shop -e \"UPDATE customers SET name='Ada King' WHERE id=1\"":           "TestWalkthrough",
	"curl -s '127.0.0.1:9200/orders/_doc/2?pretty'":                                                               "TestWalkthrough",
	"curl -s '127.0.0.1:9200/orders/_mapping?pretty'":                                                             "TestWalkthrough",
	"go run ./examples/file-to-file -out /tmp/copy.log":                                                           "TestFileCommands",
	"echo hello >> sluice-data/demo-input.log":                                                                    "TestFileCommands",
	"go run ./examples/file-to-file -in '/var/log/*.log' -out /tmp/copy.log":                                      "TestFileCommands (the glob: log files the test writes)",
	"go run ./examples/postgres-to-es":                                                                            "TestPostgresWalkthrough",
	"psql 'postgres://postgres@127.0.0.1:39659/shop' -c \"UPDATE shop.customers SET name='Ada King' WHERE id=1\"": "TestPostgresWalkthrough",
	"curl -s '127.0.0.1:9200/orders/_doc/2'":                                                                      "TestPostgresWalkthrough",
	"go run ./cmd/sluice es serve --addr 127.0.0.1:9200 --data-dir /tmp/es":                                       "TestReplicasRecipe",
	"curl -s 127.0.0.1:9200/_cat/indices?v":                                                                       "TestRunAndVerify",
	"sluice pipelines":                                                                                            "TestOperatorCommands, TestReplicasRecipe",
	"sluice status shop-search":                                                                                   "TestOperatorCommands, TestReplicasRecipe",
	"sluice status shop-search -o json":                                                                           "TestOperatorCommands, TestReplicasRecipe",
	"sluice pause|resume|stop shop-search [--wait]":                                                               "TestOperatorCommands (each verb, with --wait)",
	"sluice restart shop-search [--flow F | --source S [--task T]]":                                               "TestOperatorCommands (the four forms)",
	"sluice offsets get shop-search":                                                                              "TestOperatorCommands",
	"sluice offsets set shop-search --group shop-search.orders-index --topic T --partition 0 --offset 0":          "TestOperatorCommands (T: the flow's input topic)",
	"sluice offsets set shop-search --source cdc --task mysql:sluice --position null":                             "TestOperatorCommands",
	"sluice acls shop-search --principal User:sluice --bootstrap-server kafka:9092":                               "TestOperatorCommands",
	"sluice offsets reset shop-search":                                                                            "TestOperatorCommands",
	"sluice rebuild shop-search --flow orders-index --drop-old --wait":                                            "excluded: cmd/sluice's rebuild test runs this form against a pipeline whose sink writes through an alias (the walkthrough's job writes the index orders directly)",
	"sluice rewind shop-search --flow orders-index --to-time 72h":                                                 "excluded: cmd/sluice's rewind acceptance test (RewindToTimestampRebuildsIndex) runs `rewind --to-time` (a time three days back, in RFC 3339) with --dry-run and without against a stopped pipeline whose index was restored three days old; its argument test reads --to-time 72h",
	"sluice snapshot shop-search --source cdc --table shop.orders --where 'id > 100'":                             "excluded: cmd/sluice's snapshot test (SnapshotCommand) runs `snapshot --source --table --where` against a running CDC pipeline whose MySQL source has a signal table (the walkthrough's job sets none)",
	"sluice dlq list shop-search":                                                                                 "excluded: the redrive acceptance test of cmd/sluice (DLQReplayAfterTheFix) runs `dlq list` against a pipeline with a dead-letter topic (the walkthrough's job has none)",
	"sluice dlq show shop-search --error refused":                                                                 "excluded: the redrive acceptance test of cmd/sluice (DLQReplayAfterTheFix) runs `dlq show --error` (and --values)",
	"sluice dlq replay shop-search --wait":                                                                        "excluded: the redrive acceptance test of cmd/sluice (DLQReplayAfterTheFix) runs `dlq replay --wait` three times (the fix, the poison record's failures, its quarantine)",
	"sluice topics":                                                                                               "TestOperatorCommands",
	"sluice tail sluice.shop.orders --codec json-schema -n 5":                                                     "TestOperatorCommands",
	"sluice tail lines -f --from end":                                                                             "TestOperatorCommands (on sluice.shop.customers), TestFileCommands (on lines)",
	"sluice run --name orders-es --from mysql --mysql-dsn 'user:pw@tcp(127.0.0.1:3306)/' --tables shop.orders  --to elasticsearch --es-url http://127.0.0.1:9200 --index orders": "TestRunAndVerify",
	"sluice run --name logs --from file --path '/var/log/app/*.log' --to topic --to-topic app-logs":                                                                              "TestFileCommands",
	"sluice run --name events-es --from topic --topic events --key-codec string --to elasticsearch --index events --id offset":                                                   "TestFileCommands (on the logs run's topic)",
	"sluice run --config orders-es.yaml":                                                                                         "TestRunAndVerify",
	"sluice broker --addr 127.0.0.1:9092 --data-dir ./shared-data":                                                               "TestReplicasRecipe",
	"sluice positions --brokers 127.0.0.1:9092 --pipeline file-to-file --source files":                                           "TestFileCommands",
	"sluice es serve --addr 127.0.0.1:9200":                                                                                      "TestRunAndVerify",
	"sluice verify --mysql-dsn 'user:pw@tcp(127.0.0.1:3306)/' --table shop.orders --es-url http://127.0.0.1:9200 --index orders": "TestRunAndVerify",
	"sluice verify ... -o json":                                                                                                  "TestRunAndVerify",
	"sluice verify ... --repair --brokers 127.0.0.1:9092 --wait 1m":                                                              "TestRunAndVerify",

	// Package docs: usage synopses, each the form of a README command run above.
	"go run ./examples/mysql-to-es [-generate 50] [-progress 5s]":                "TestWalkthrough (without the optional flags)",
	"go run ./examples/postgres-to-es [-generate 50] [-progress 5s]":             "TestPostgresWalkthrough (without the optional flags)",
	"go run ./examples/file-to-file -in PATH[,PATH...] -out PATH [-topic lines]": "TestFileCommands",
	"sluice pipelines [--url http://127.0.0.1:8083] [-o json]":                   "TestOperatorCommands (as the README's form, --url from SLUICE_API_URL)",
	"sluice status NAME [-o json]":                                               "TestOperatorCommands",
	"sluice pause|resume|stop NAME":                                              "TestOperatorCommands",
	"sluice restart NAME [--flow F | --source S [--task T]]":                     "TestOperatorCommands",
	"sluice offsets get|set|reset NAME":                                          "TestOperatorCommands",
	"sluice topics [--brokers 127.0.0.1:9092]":                                   "TestOperatorCommands (--brokers from SLUICE_BROKERS)",
	"sluice tail TOPIC [--codec json] [-f] [--from beginning|end] [-n 10]":       "TestOperatorCommands",
	"sluice broker --addr 127.0.0.1:9092 --data-dir ./sluice-data":               "TestReplicasRecipe (with the README's ./shared-data)",
	"sluice es serve --addr 127.0.0.1:9200 [--data-dir D]":                       "TestRunAndVerify, TestReplicasRecipe",
	"go run ./internal/benchtable -count 3 -readme README.md":                    "excluded: make bench runs it (the benchmarks' own task), minutes of CPU on a 2-core machine",
}

// docCommand is a command line in a Go doc comment: a tab-indented line starting with a command.
var docCommand = regexp.MustCompile(`^//\t((?:go run|sluice|curl|mariadb|psql|kcat|make) .*|sluice [a-z]+)$`)

// TestEveryCommandIsExercised is the inventory of issue 24's "every shell command is exercised": each
// command of README.md's sh blocks and of the Go packages' doc comments is in the table above, run by a
// test of this package or excluded with a reason; and each entry of the table is still in the documents.
func TestEveryCommandIsExercised(t *testing.T) {
	found := map[string]string{} // command -> where
	for _, b := range readmeBlocks(t) {
		if b.lang != "sh" {
			continue
		}
		for _, c := range shellCommands(b.text) {
			found[c] = "README.md (block at line " + strconv.Itoa(b.line) + ")"
		}
	}
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(root, path)
		sc := bufio.NewScanner(f)
		pending := ""
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if pending != "" {
				line = "//\t" + pending + strings.TrimSpace(strings.TrimPrefix(line, "//"))
				pending = ""
			}
			m := docCommand.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if strings.HasSuffix(m[1], "\\") {
				pending = strings.TrimSuffix(m[1], "\\") + " "
				continue
			}
			found[strings.TrimSpace(stripComment(m[1]))] = rel + ":" + strconv.Itoa(n)
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for c, where := range found {
		if _, ok := exercised[c]; !ok {
			missing = append(missing, where+": "+c)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no test runs this command, and no exclusion says why: %s", m)
	}
	for c := range exercised {
		if _, ok := found[c]; !ok {
			t.Errorf("the table lists %q, which no document shows any more: drop it (and its test's use)", c)
		}
	}
	// Each test the table names exists in this package.
	defined := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(root, "test", "readme", "*_test.go"))
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`).FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
	}
	for c, why := range exercised {
		for _, name := range regexp.MustCompile(`\bTest\w+`).FindAllString(why, -1) {
			if !defined[name] {
				t.Errorf("the table says %s runs %q, but this package has no such test", name, c)
			}
		}
	}
	excluded := 0
	for _, why := range exercised {
		if strings.HasPrefix(why, "excluded:") {
			excluded++
		}
	}
	t.Logf("%d commands in the documents, %d run by tests, %d excluded", len(found), len(found)-excluded, excluded)
}
