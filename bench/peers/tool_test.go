package peers

import (
	"context"
	"sort"
	"sync"
)

// Phase is one of the measurements the harness takes of every tool.
type Phase string

const (
	// PhaseSnapshot: a fresh start copies the snapshot table (1,000,000 rows) into Kafka.
	PhaseSnapshot Phase = "snapshot"
	// PhaseStreaming: a stopped tool, restarted after 200,000 row changes were written to the binlog, catches up.
	PhaseStreaming Phase = "streaming"
	// PhaseEndToEnd: MySQL COMMIT -> document readable (GET by id) in the search engine, at a fixed load.
	PhaseEndToEnd Phase = "end-to-end"
)

// MySQL is where the shared MariaDB server listens. Every tool connects as User (which has every privilege).
type MySQL struct {
	Host     string
	Port     int
	User     string
	Password string
	Database string // the database that holds the benchmark's tables
	DSN      string // go-sql-driver/mysql form: "user:password@tcp(host:port)/"
}

// Env is what the harness gives every tool: the run's shared servers and a scratch directory.
type Env struct {
	MySQL     MySQL
	Brokers   []string // the real Kafka cluster's bootstrap addresses (PLAINTEXT)
	SearchURL string   // the search engine's base URL (OpenSearch, no security) for PhaseEndToEnd; "" when not run
	RepoRoot  string   // the repository's root directory (configuration files are under bench/peers)
	WorkDir   string   // this tool's scratch directory for builds, generated configuration and logs
	Logf      func(format string, args ...any)
}

// RunSpec is one start of a tool.
type RunSpec struct {
	// Name is unique per run of the harness and per (round, phase, tool), e.g. "r1-snapshot-debezium": use it
	// for topic prefixes, connector names, consumer groups, offset storage and server-side state, so that no
	// start sees another's state. A Start with Resume set reuses the Name of the Stop before it.
	Name string
	// Tables are the tables of Env.MySQL.Database to capture, each into its own Kafka topic (Running.Topic).
	Tables []string
	// Snapshot: copy the tables' existing rows first, then stream. False: copy no rows, stream from the
	// binlog's current end (Debezium's snapshot.mode=no_data).
	Snapshot bool
	// Resume: start again after Running.Stop, from the position the stopped run saved.
	Resume bool
	// ServerID is the binlog replication client id of this start (unique in the run).
	ServerID uint32
	// Index, when non-empty (PhaseEndToEnd only), also writes every row of Tables[0] to this search index,
	// through Kafka, with the document id Running.DocID of the row's primary key. Inserts only.
	Index string
}

// Description is what the results say about a tool: what ran and how it was configured.
type Description struct {
	Version   string   // e.g. "Debezium 3.6.1.Final (MariaDB connector) on Kafka Connect 4.4.0"
	Config    []string // repository paths of the configuration files the tool runs with
	Guarantee string   // delivery guarantee as configured, e.g. "at-least-once, acks=all"
	Format    string   // what a record on the topic looks like, e.g. "JSON with schema (JsonConverter)"
	Notes     string   // anything a reader must know to compare figures (one or two sentences)
}

// Tool is one program under test. Implementations live in <tool>_test.go and call register from init.
type Tool interface {
	// Name is short and lower case ("sluice", "debezium", "benthos", "conduit"): it names result rows.
	Name() string
	Describe() Description
	// Supports says whether the tool can take part in phase, and when it cannot, why (one sentence for the
	// results table, e.g. "no MySQL change-data-capture input in the MIT-licensed Benthos").
	Supports(phase Phase) (bool, string)
	// Prepare builds or downloads what the tool needs (not timed; the harness reports its duration). It is
	// called once per harness run, before any Start.
	Prepare(ctx context.Context, env *Env) error
	// Start starts the tool's processes for spec and returns once they run (not necessarily ready: the harness
	// measures start-up as the time to the first record on a topic).
	Start(ctx context.Context, env *Env, spec RunSpec) (Running, error)
}

// Running is a started tool.
type Running interface {
	// Topic is the Kafka topic that receives table's change events.
	Topic(table string) string
	// Processes are the PIDs whose CPU time and resident memory count as the tool's (not Kafka's, MariaDB's
	// or the search engine's).
	Processes() []int
	// DocID is the search document id of the row with primary key id (PhaseEndToEnd).
	DocID(id int64) string
	// Stop stops the tool gracefully (position saved) and waits for its processes to exit.
	Stop(ctx context.Context) error
}

var (
	toolsMu sync.Mutex
	tools   = map[string]Tool{}
)

// register adds a tool to the harness; each adapter calls it from init.
func register(t Tool) {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if _, dup := tools[t.Name()]; dup {
		panic("peers: tool registered twice: " + t.Name())
	}
	tools[t.Name()] = t
}

// registered returns the registered tools ordered by name.
func registered() []Tool {
	toolsMu.Lock()
	defer toolsMu.Unlock()
	out := make([]Tool, 0, len(tools))
	for _, t := range tools {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}
