package peers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"
	"github.com/sluicehq/sluice/internal/mavenjars"
)

// Debezium 3.5.0.Final's MariaDB connector on a Kafka Connect 4.1.1 worker in distributed mode, one worker per
// RunSpec.Name, every jar of test/debezium/pom.xml on the worker's classpath.
const (
	debeziumVersion = "Debezium 3.5.0.Final (MariaDB connector) on Kafka Connect 4.1.1"
	debeziumJarsDir = "test/debezium"
	debeziumConfDir = "bench/peers/config/debezium"
)

// debeziumJVMFlags are the worker JVM's flags: the heap of Kafka's connect-distributed.sh (KAFKA_HEAP_OPTS
// "-Xms256M -Xmx2G") and the garbage collector flags of kafka-run-class.sh, as a user who follows the Kafka
// Connect documentation runs it.
var debeziumJVMFlags = []string{"-Xms256m", "-Xmx2g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
	"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true"}

// Deadlines of the adapter's calls outside the process.
const (
	debeziumPrepareTimeout = 12 * time.Minute // Maven fetching the jars on a fresh machine
	debeziumReadyTimeout   = 3 * time.Minute  // worker start-up, connector and task RUNNING
	debeziumConnStopWait   = 60 * time.Second // PUT /connectors/<name>/stop to the connector STOPPED
	debeziumStopTimeout    = 60 * time.Second // SIGTERM to exit; then SIGKILL and an error
	debeziumRESTTimeout    = 15 * time.Second // one REST request
	debeziumPoll           = 200 * time.Millisecond
)

type debeziumTool struct {
	java string // the java launcher
	lib  string // test/debezium/lib
}

func init() { register(&debeziumTool{}) }

func (*debeziumTool) Name() string { return "debezium" }

func (*debeziumTool) Describe() Description {
	return Description{
		Version: debeziumVersion,
		Config: []string{debeziumConfDir + "/worker.properties", debeziumConfDir + "/connector.properties",
			debeziumJarsDir + "/pom.xml"},
		Guarantee: "at-least-once (exactly.once.source.support disabled), producer acks=all; offsets flushed every second " +
			"and on a stop (the connector is stopped through the REST API before the worker gets SIGTERM)",
		Format: "JSON with schema (Connect's JsonConverter, schemas.enable=true): Debezium's envelope (before, after, op, source, ts_ms)",
		Notes: "Debezium 3.5.0.Final on Connect 4.1.1, not 3.6.1 on 4.4.0: the MariaDB connector is not served at 3.6.x, " +
			"the MySQL connector 3.6.1 refuses MariaDB, and Debezium 3.5 needs a class Kafka 4.4 removed; one worker per " +
			"start with connect-distributed.sh's default heap (-Xms256m -Xmx2g); decimals in the default precise mode.",
	}
}

func (*debeziumTool) Supports(phase Phase) (bool, string) {
	if phase == PhaseEndToEnd {
		return false, "no OpenSearch sink for Kafka Connect is obtainable from Maven Central here: Aiven's " +
			"opensearch-connector-for-apache-kafka is published on GitHub only, and Camel Kafka Connector's " +
			"opensearch-index-sink and elasticsearch-index-sink (4.14.0, 4.10.3, 4.8.0, 4.4.2) are not served"
	}
	return true, ""
}

// Prepare fetches the jars of test/debezium/pom.xml (once per machine) and finds java.
func (d *debeziumTool) Prepare(ctx context.Context, env *Env) error {
	ctx, cancel := context.WithTimeout(ctx, debeziumPrepareTimeout)
	defer cancel()
	java, err := mavenjars.Java()
	if err != nil {
		return err
	}
	lib, err := mavenjars.Ensure(ctx, filepath.Join(env.RepoRoot, debeziumJarsDir))
	if err != nil {
		return err
	}
	d.java, d.lib = java, lib
	return nil
}

// debeziumTemplateData is what the configuration templates of config/debezium may name.
type debeziumTemplateData struct {
	Name         string
	Brokers      string
	RESTPort     int
	MySQL        MySQL
	ServerID     uint32
	TableList    string // database.table,database.table
	SnapshotMode string // initial or no_data
}

// Start writes the worker's configuration into WorkDir/<Name>, starts the worker JVM in its own process group
// (killed with the test binary), creates the connector (or, on Resume, finds the one the worker stored) and
// returns once the connector and its task are RUNNING.
func (d *debeziumTool) Start(ctx context.Context, env *Env, spec RunSpec) (Running, error) {
	if err := checkStart("debezium", d.lib, spec); err != nil {
		return nil, err
	}
	if spec.Index != "" {
		return nil, errors.New("debezium: no OpenSearch sink (see Supports)")
	}
	ctx, cancel := context.WithTimeout(ctx, debeziumReadyTimeout)
	defer cancel()
	dir := filepath.Join(env.WorkDir, spec.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("debezium: %w", err)
	}
	port, err := dbserver.FreePort("debezium: the worker's REST API")
	if err != nil {
		return nil, err
	}
	tables := make([]string, len(spec.Tables))
	for i, t := range spec.Tables {
		tables[i] = env.MySQL.Database + "." + t
	}
	data := debeziumTemplateData{Name: spec.Name, Brokers: strings.Join(env.Brokers, ","), RESTPort: port,
		MySQL: env.MySQL, ServerID: spec.ServerID, TableList: strings.Join(tables, ","), SnapshotMode: "no_data"}
	if spec.Snapshot {
		data.SnapshotMode = "initial"
	}
	worker, err := renderTemplate(filepath.Join(env.RepoRoot, debeziumConfDir, "worker.properties"), data)
	if err != nil {
		return nil, fmt.Errorf("debezium: %w", err)
	}
	connector, err := renderTemplate(filepath.Join(env.RepoRoot, debeziumConfDir, "connector.properties"), data)
	if err != nil {
		return nil, fmt.Errorf("debezium: %w", err)
	}
	config, err := debeziumProperties(connector)
	if err != nil {
		return nil, fmt.Errorf("debezium: %s: %w", debeziumConfDir+"/connector.properties", err)
	}
	workerFile, log4jFile := filepath.Join(dir, "worker.properties"), filepath.Join(dir, "log4j2.properties")
	logFile := filepath.Join(dir, "worker.log")
	if err := os.WriteFile(workerFile, []byte(worker), 0o644); err != nil {
		return nil, fmt.Errorf("debezium: %w", err)
	}
	if err := os.WriteFile(log4jFile, []byte(debeziumLog4j(logFile)), 0o644); err != nil {
		return nil, fmt.Errorf("debezium: %w", err)
	}
	args := append([]string{}, debeziumJVMFlags...)
	args = append(args, "-Dlog4j2.configurationFile="+log4jFile,
		// The binlog client logs through java.util.logging: into log4j2 (log4j-jul), so into worker.log.
		"-Djava.util.logging.manager=org.apache.logging.log4j.jul.LogManager",
		"-cp", filepath.Join(d.lib, "*"),
		"org.apache.kafka.connect.cli.ConnectDistributed", workerFile)
	p, err := startProc(ctx, procSpec{Tool: "debezium", Name: spec.Name, Bin: d.java, Args: args, Dir: dir,
		Log: filepath.Join(dir, "stdout.log")}, env.Logf)
	if err != nil {
		return nil, err
	}
	r := &debeziumRun{spec: spec, proc: p, dir: dir, rest: fmt.Sprintf("http://127.0.0.1:%d", port),
		db: env.MySQL.Database}
	p.tail = func() string { return r.logTail(20) }
	if err := r.ready(ctx, config); err != nil {
		p.kill()
		return nil, fmt.Errorf("debezium: %s: %w\nworker log %s:\n%s", spec.Name, err, logFile, r.logTail(40))
	}
	env.Logf("debezium: %s: worker pid %d, REST %s, connector and task RUNNING", spec.Name, p.pid(), r.rest)
	return r, nil
}

// debeziumRun is one started worker.
type debeziumRun struct {
	spec RunSpec
	proc *childProc
	dir  string
	rest string // the worker's REST base URL
	db   string // the captured database: topics are <Name>.<db>.<table>
}

func (r *debeziumRun) Topic(table string) string { return r.spec.Name + "." + r.db + "." + table }

func (r *debeziumRun) Processes() []int { return []int{r.proc.pid()} }

func (r *debeziumRun) DocID(id int64) string { return strconv.FormatInt(id, 10) }

// Stop stops the connector through the REST API (PUT /connectors/<name>/stop: its task stops, commits its
// offsets and the connector's target state STOPPED is stored in the config topic) and waits until its status
// is STOPPED, then sends SIGTERM to the worker's process group and waits for the exit. A worker that does not
// exit within debeziumStopTimeout (or before ctx's end) is killed and Stop returns an error with its log.
func (r *debeziumRun) Stop(ctx context.Context) error {
	// A Connect worker does not exit by itself: an exit before Stop is an error. The worker's own shutdown
	// stops the task and commits its offsets too: a clean exit after a failed connector stop is a clean stop.
	return r.proc.stop(ctx, stopHow{Group: true, Timeout: debeziumStopTimeout, AnyStatus: true, Before: r.stopConnector})
}

// stopConnector asks the worker to stop the connector and waits (debeziumConnStopWait at most) until the
// connector's status is STOPPED with no task left.
func (r *debeziumRun) stopConnector(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, debeziumConnStopWait)
	defer cancel()
	url := r.rest + "/connectors/" + r.spec.Name
	code, body, err := debeziumREST(ctx, http.MethodPut, url+"/stop", nil)
	if err != nil {
		return fmt.Errorf("PUT %s/stop: %w", url, err)
	}
	if code != http.StatusAccepted && code != http.StatusNoContent && code != http.StatusOK {
		return fmt.Errorf("PUT %s/stop: %d %s", url, code, body)
	}
	last := ""
	for {
		st, err := debeziumStatus(ctx, url)
		switch {
		case err != nil:
			last = err.Error()
		case st.Connector.State == "STOPPED" && len(st.Tasks) == 0:
			return nil
		default:
			last = st.String()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the connector is not STOPPED after %s: %w (last status: %s)", debeziumConnStopWait, ctx.Err(), last)
		case <-r.proc.done:
			return fmt.Errorf("the worker exited while the connector stopped: %v", r.proc.waitErr)
		case <-time.After(debeziumPoll): // Connect offers no wait for a state
		}
	}
}

// debeziumConnectorStatus is GET /connectors/<name>/status.
type debeziumConnectorStatus struct {
	Connector struct{ State, Trace string }
	Tasks     []struct {
		ID           int
		State, Trace string
	}
}

func (st debeziumConnectorStatus) String() string {
	s := "connector " + st.Connector.State
	for _, t := range st.Tasks {
		s += fmt.Sprintf(", task %d %s", t.ID, t.State)
	}
	return s
}

// debeziumStatus returns the connector's status (GET url/status); a status other than 200 is an error.
func debeziumStatus(ctx context.Context, url string) (debeziumConnectorStatus, error) {
	var st debeziumConnectorStatus
	code, body, err := debeziumREST(ctx, http.MethodGet, url+"/status", nil)
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("GET %s/status: %d %s", url, code, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("GET %s/status: %w: %s", url, err, body)
	}
	return st, nil
}

// logTail returns the worker log's last n ERROR lines (without their stack traces), its last lines, and the
// last lines of the JVM's own output.
func (r *debeziumRun) logTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "worker.log"))
	s, _ := os.ReadFile(filepath.Join(r.dir, "stdout.log"))
	var errs []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "] ERROR ") {
			errs = append(errs, line)
		}
	}
	if len(errs) > n {
		errs = errs[len(errs)-n:]
	}
	return strings.Join(errs, "\n") + "\n...\n" + dbserver.LastLines(string(b), n) + dbserver.LastLines(string(s), 10)
}

// ready waits for the REST API, creates the connector unless the worker already stores one of this name (a
// resumed start: its configuration is in the config topic and is not replaced; the Stop before left it
// STOPPED, so it is resumed), and waits until the connector and its task are RUNNING. A FAILED state is an error with Connect's trace.
func (r *debeziumRun) ready(ctx context.Context, config map[string]string) error {
	connectorURL := r.rest + "/connectors/" + r.spec.Name
	created, resumed := false, false
	last := "" // the last refusal of POST /connectors or PUT /resume, for the error when the deadline strikes
	for {
		select {
		case <-r.proc.done:
			return fmt.Errorf("the Connect worker exited: %v", r.proc.waitErr)
		default:
		}
		code, body, err := debeziumREST(ctx, http.MethodGet, connectorURL+"/status", nil)
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), err)
		case err != nil: // the REST server is not up yet
		case code == http.StatusOK:
			var st debeziumConnectorStatus
			if err := json.Unmarshal(body, &st); err != nil {
				return fmt.Errorf("GET %s/status: %w: %s", connectorURL, err, body)
			}
			if st.Connector.State == "FAILED" {
				return fmt.Errorf("the connector FAILED: %s", st.Connector.Trace)
			}
			for _, task := range st.Tasks {
				if task.State == "FAILED" {
					return fmt.Errorf("task %d FAILED: %s", task.ID, task.Trace)
				}
			}
			if st.Connector.State == "RUNNING" && len(st.Tasks) > 0 && st.Tasks[0].State == "RUNNING" {
				return nil
			}
			if st.Connector.State == "STOPPED" && r.spec.Resume && !resumed {
				// The Stop before this start stopped the connector (stored in the config topic): resume it.
				code, body, err := debeziumREST(ctx, http.MethodPut, connectorURL+"/resume", nil)
				switch {
				case err != nil:
					last = "PUT /resume: " + err.Error()
				case code == http.StatusAccepted || code == http.StatusNoContent || code == http.StatusOK:
					resumed = true
				default:
					last = fmt.Sprintf("PUT /resume: %d %s", code, body)
				}
			}
		case code == http.StatusNotFound && !r.spec.Resume && !created:
			// Not created yet. A worker that has not joined its group yet answers 409 or 5xx: try again.
			req, _ := json.Marshal(map[string]any{"name": r.spec.Name, "config": config})
			code, body, err := debeziumREST(ctx, http.MethodPost, r.rest+"/connectors", req)
			switch {
			case err != nil:
				last = err.Error()
			case code == http.StatusCreated:
				created = true
			case code == http.StatusBadRequest:
				return fmt.Errorf("POST /connectors refused the configuration: %s", body)
			case code == http.StatusInternalServerError && bytes.Contains(body, []byte("configValue()")):
				// Connect 4.x may fail with a NullPointerException while it words the errors of an invalid
				// configuration: the validation endpoint lists them.
				return fmt.Errorf("POST /connectors refused the configuration: %s", debeziumValidate(ctx, r.rest, config))
			default:
				last = fmt.Sprintf("%d %s", code, body)
			}
		}
		select {
		case <-ctx.Done():
			if last != "" {
				return fmt.Errorf("not ready: %w (last refusal: %s)", ctx.Err(), last)
			}
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-r.proc.done:
		case <-time.After(debeziumPoll): // the worker's state changes on its own; Connect offers no wait
		}
	}
}

// debeziumValidate returns the errors that the worker's validation endpoint finds in the connector's config.
func debeziumValidate(ctx context.Context, rest string, config map[string]string) string {
	withName := map[string]string{}
	for k, v := range config {
		withName[k] = v
	}
	withName["name"] = "validation"
	req, _ := json.Marshal(withName)
	code, body, err := debeziumREST(ctx, http.MethodPut, rest+"/connector-plugins/"+config["connector.class"]+"/config/validate", req)
	if err != nil || code != http.StatusOK {
		return fmt.Sprintf("validation: %d %s %v", code, body, err)
	}
	var infos struct {
		Configs []struct {
			Value struct {
				Name   string
				Errors []string
			}
		}
	}
	if err := json.Unmarshal(body, &infos); err != nil {
		return fmt.Sprintf("validation: %v: %s", err, body)
	}
	var errs []string
	for _, c := range infos.Configs {
		for _, e := range c.Value.Errors {
			errs = append(errs, c.Value.Name+": "+e)
		}
	}
	return strings.Join(errs, "; ")
}

// debeziumREST sends one request to a worker's REST API within debeziumRESTTimeout.
func debeziumREST(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, debeziumRESTTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	// No idle keep-alive connection left to the worker: Jetty's graceful stop waits about a second for one.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// debeziumProperties parses key=value lines; blank lines and lines starting with # are skipped.
func debeziumProperties(text string) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: no '=' in %q", n, line)
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return props, sc.Err()
}

// debeziumLog4j is the worker's log4j2 configuration, in log4j2's properties format (its YAML format needs
// jackson-dataformat-yaml, which is not on the classpath): INFO and above into file with the pattern of
// Kafka's own connect-log4j2.yaml (less its console appender).
func debeziumLog4j(file string) string {
	return `status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ` + file + `
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c:%L)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
`
}

// TestDebeziumAdapterSmoke is the adapter's own test: a private MariaDB and a 1-node real Kafka, a 1000-row
// table, a snapshot (exactly 1000 records), a stop, 500 row changes, a resumed start (exactly 1500 records),
// and one record's value in Debezium's envelope with its schema.
func TestDebeziumAdapterSmoke(t *testing.T) {
	s := startSmoke(t, "peers_debezium", 20*time.Minute)
	s.createTable("smoke")
	s.insertRows("smoke", 1, 1000)
	tool := &debeziumTool{}
	s.prepare(tool)
	spec := RunSpec{Name: "smoke-debezium", Tables: []string{"smoke"}, Snapshot: true, ServerID: 4242}

	run := s.start(tool, spec)
	topic := run.Topic("smoke")
	s.awaitRecords(topic, 1000, "snapshot")
	s.stop(run)
	workerLog, err := os.ReadFile(filepath.Join(s.env.WorkDir, spec.Name, "worker.log"))
	if err != nil || !bytes.Contains(workerLog, []byte("] INFO ")) || !bytes.Contains(workerLog, []byte("BinaryLogClient")) {
		t.Fatalf("worker.log holds no INFO lines of the worker and the binlog client (%v): %.2000s", err, workerLog)
	}

	first := s.firstRecord(topic).Value
	var envelope struct {
		Schema  map[string]any
		Payload struct {
			Before, After map[string]any
			Op            string
		}
	}
	if err := json.Unmarshal(first, &envelope); err != nil {
		t.Fatalf("the first record's value is not JSON: %v: %s", err, first)
	}
	if envelope.Schema == nil || envelope.Payload.After == nil || envelope.Payload.Op != "r" {
		t.Fatalf("the first record's value is not Debezium's envelope with a schema and a read event: %s", first)
	}

	s.resumeAfterChanges(tool, spec, "smoke", 1001, 1000)
}
