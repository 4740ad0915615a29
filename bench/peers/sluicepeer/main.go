// Command sluicepeer is the Sluice pipeline the peer benchmark (bench/peers, issue 20) runs as its own
// process: change data capture of MariaDB/MySQL tables into one Kafka topic per table, written the way a
// Sluice user writes a pipeline (see examples/mysql-to-es), and, with -index, a flow from the first table's
// topic into OpenSearch/Elasticsearch.
//
// The Kafka cluster, data directory and HTTP address come from the environment as for every pipeline
// (topology.ConfigFromEnv: SLUICE_BROKERS, SLUICE_DATA_DIR, SLUICE_HTTP_ADDR, ...); the MySQL DSN from
// SLUICE_MYSQL_DSN (so the password is not on the command line). The pipeline's name is -name: a second start
// with the same name and brokers continues from the position the first one saved. SIGTERM or SIGINT stops it
// gracefully (records acknowledged by Kafka, position saved); the exit status is 0 after a clean stop. The
// first line on standard output, "sluicepeer: running, pid N", says that the signal handler is installed.
//
//	SLUICE_BROKERS=127.0.0.1:9092 SLUICE_HTTP_ADDR=off SLUICE_MYSQL_DSN='root:pw@tcp(127.0.0.1:3306)/' \
//	  sluicepeer -name r1-snapshot-sluice -db bench -tables snap -server-id 7001 -snapshot
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// codec is the codec of every topic's keys and values: Kafka Connect's JSON with the schema in each record,
// the shape Debezium's JsonConverter writes with schemas.enable=true.
const codec = "json-schema"

// defaultHeartbeat is the mysql source's HeartbeatInterval (Debezium's heartbeat.interval.ms). The source saves a
// position only once Kafka acknowledged a record: with SnapshotMode never, a start stopped before the first
// change to its tables would save none, and the next start would stream from the then current end of the
// binlog, missing what was written in between. A heartbeat record (on its own topic) carries the stream's
// position, so the first one saves it.
const defaultHeartbeat = time.Second

type options struct {
	name     string   // pipeline name, also the topic prefix
	dsn      string   // SLUICE_MYSQL_DSN
	db       string   // database of the tables
	tables   []string // tables of db to capture
	serverID uint32
	snapshot bool   // copy the tables first (initial), else stream from the binlog's current end (never)
	index    string // search index for the first table's rows; "" for none
	esURL    string
	beat     time.Duration // the source's HeartbeatInterval (-heartbeat)
	cpuProf  string        // -cpuprofile: write a CPU profile of the whole run there
}

func parse(args []string) (options, error) {
	fs := flag.NewFlagSet("sluicepeer", flag.ContinueOnError)
	var o options
	var tables string
	var serverID uint
	fs.StringVar(&o.name, "name", "", "pipeline name and topic prefix (required)")
	fs.StringVar(&o.db, "db", "", "database of the tables (required)")
	fs.StringVar(&tables, "tables", "", "comma-separated tables of -db to capture (required)")
	fs.UintVar(&serverID, "server-id", 0, "binlog replication client server_id (required)")
	fs.BoolVar(&o.snapshot, "snapshot", false, "copy the tables' rows first (SnapshotMode initial); else stream from the binlog's current end (never)")
	fs.StringVar(&o.index, "index", "", "also index the first table's rows (unwrapped) into this search index")
	fs.StringVar(&o.esURL, "es-url", "", "the search engine's base URL (OpenSearch), with -index")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile (runtime/pprof) of the run to this file")
	fs.DurationVar(&o.beat, "heartbeat", defaultHeartbeat, "the mysql source's HeartbeatInterval (0: none; see defaultHeartbeat)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.dsn = os.Getenv("SLUICE_MYSQL_DSN")
	o.serverID = uint32(serverID)
	for _, t := range strings.Split(tables, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.tables = append(o.tables, t)
		}
	}
	switch {
	case o.name == "":
		return o, errors.New("-name is required")
	case o.db == "":
		return o, errors.New("-db is required")
	case len(o.tables) == 0:
		return o, errors.New("-tables is required")
	case o.serverID == 0:
		return o, errors.New("-server-id is required")
	case o.dsn == "":
		return o, errors.New("SLUICE_MYSQL_DSN is empty")
	case o.index != "" && o.esURL == "":
		return o, errors.New("-index needs -es-url")
	}
	return o, nil
}

// build declares the pipeline.
func build(o options) (*topology.Topology, error) {
	mode := mysql.SnapshotNever
	if o.snapshot {
		mode = mysql.SnapshotInitial
	}
	noTombstones := false
	qualified := make([]string, len(o.tables))
	for i, t := range o.tables {
		qualified[i] = o.db + "." + t
	}
	cdc, err := mysql.New(mysql.Config{DSN: o.dsn, ServerID: o.serverID, Tables: qualified, TopicPrefix: o.name,
		SnapshotMode: mode, Tombstones: &noTombstones, HeartbeatInterval: o.beat})
	if err != nil {
		return nil, err
	}
	t := topology.New(o.name)
	topics := make([]*topology.Topic, len(qualified))
	for i, q := range qualified {
		topics[i] = t.Topic(cdc.Topic(q), topology.KeyCodec(codec), topology.ValueCodec(codec))
	}
	t.Topic(cdc.SchemaChangeTopic(), topology.KeyCodec(codec), topology.ValueCodec(codec))
	if o.beat > 0 {
		t.Topic(cdc.HeartbeatTopic(), topology.KeyCodec(codec), topology.ValueCodec(codec))
	}
	t.Source("cdc", cdc).ToRecordTopics()

	if o.index != "" {
		unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
		if err != nil {
			return nil, err
		}
		es, err := elasticsearch.New(elasticsearch.Config{URLs: []string{o.esURL}, Index: o.index,
			Flavor: elasticsearch.FlavorOpenSearch})
		if err != nil {
			return nil, err
		}
		t.Flow("index").From(topics[0]).Via(unwrap).To(es)
	}
	return t, t.Validate()
}

func main() { os.Exit(run()) }

// run runs the pipeline until SIGTERM or SIGINT and returns the exit status.
func run() int {
	// Signals first: a SIGTERM from here on is a graceful stop, and the line below tells the parent so.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Printf("sluicepeer: running, pid %d\n", os.Getpid())
	o, err := parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluicepeer:", err)
		return 2
	}
	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sluicepeer: -cpuprofile:", err)
			return 2
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	t, err := build(o)
	if err == nil {
		err = t.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluicepeer:", err)
		return 1
	}
	return 0
}
