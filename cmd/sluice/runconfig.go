package main

import (
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/sluicehq/sluice/secret"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// runOptions are `sluice run`'s settings: from flags, or from a YAML/JSON file whose keys are the flags'
// names (flags given on the command line win).
type runOptions struct {
	config string
	name   string

	from       string // mysql, file, topic
	mysqlDSN   string
	tables     []string
	serverID   uint32
	snapshot   string
	path       []string
	stopAtEnd  bool
	topic      string
	codec      string
	keyCodec   string
	unwrap     bool
	partitions int

	inputPartitions int // the --topic's partitions on Kafka, when known before the start

	to       string // elasticsearch, topic, file
	esURL    string
	index    string
	id       string // key or offset
	toTopic  string
	toCodec  string
	out      string
	progress string // auto, bar, log
}

// The flags each source and sink kind takes; a flag of another kind is refused, naming it.
var (
	fromFlags = map[string][]string{
		"mysql": {"mysql-dsn", "tables", "server-id", "snapshot"},
		"file":  {"path", "stop-at-end"},
		"topic": {"topic", "codec", "key-codec"},
	}
	toFlags = map[string][]string{
		"elasticsearch": {"es-url", "index", "id"},
		"topic":         {"to-topic", "to-codec"},
		"file":          {"out"},
	}
)

func (o *runOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "a YAML or JSON file of settings, keyed by these flags' names (e.g. mysql-dsn: ..., tables: [shop.orders]); flags win")
	f.StringVar(&o.name, "name", "", "the pipeline's name: its consumer groups, topics and saved positions are named after it (required)")
	f.StringVar(&o.from, "from", "", "the source: mysql, file or topic (required)")
	f.StringVar(&o.mysqlDSN, "mysql-dsn", "", "mysql: the server, as user:password@tcp(host:3306)/ (binlog on, ROW format)")
	f.StringSliceVar(&o.tables, "tables", nil, "mysql: tables to capture, db.table, comma-separated")
	f.Uint32Var(&o.serverID, "server-id", 0, "mysql: the replication client's server_id, unique among the server's replicas (default: derived from --name)")
	f.StringVar(&o.snapshot, "snapshot", "initial", "mysql: initial (copy the tables, then follow the binlog), never, initial_only or when_needed")
	f.StringSliceVar(&o.path, "path", nil, "file: files or glob patterns to read line by line, comma-separated")
	f.BoolVar(&o.stopAtEnd, "stop-at-end", false, "file: read each file to its end only, instead of following appends")
	f.StringVar(&o.topic, "topic", "", "topic: an existing Kafka topic to read")
	f.StringVar(&o.codec, "codec", "json", "topic: the topic's value codec (json, json-schema, string, bytes)")
	f.StringVar(&o.keyCodec, "key-codec", "", "topic: the topic's key codec (default: --codec)")
	f.BoolVar(&o.unwrap, "unwrap", false, "turn change events into rows (Debezium's ExtractNewRecordState); default: on for mysql")
	f.IntVar(&o.partitions, "partitions", 1, "partitions of the topics the pipeline creates")
	f.StringVar(&o.to, "to", "", "the sink: elasticsearch, topic or file (required)")
	esDefault := os.Getenv("SLUICE_ES_URL")
	if esDefault == "" {
		esDefault = "http://127.0.0.1:9200"
	}
	f.StringVar(&o.esURL, "es-url", esDefault, "elasticsearch: the server's URL (default $SLUICE_ES_URL or http://127.0.0.1:9200)")
	f.StringVar(&o.index, "index", "{topic}", "elasticsearch: the index, a template: {topic}, {field:PATH}")
	f.StringVar(&o.id, "id", "", "elasticsearch: document ids from the record's key (key) or from its topic+partition+offset (offset); default: offset for file, key otherwise")
	f.StringVar(&o.toTopic, "to-topic", "", "topic: the Kafka topic to write (created if missing)")
	f.StringVar(&o.toCodec, "to-codec", "json", "topic: the output topic's value codec")
	f.StringVar(&o.out, "out", "", "file: the file to append one line per record to")
	f.StringVar(&o.progress, "progress", "auto", "auto (a progress bar when stderr is a terminal, else log lines), bar or log")
}

// loadConfigFile sets every flag not given on the command line from the --config file. Lists may be YAML
// lists or comma-separated strings. An unknown key is an error naming it.
func loadConfigFile(flags *pflag.FlagSet, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var settings map[string]any
	if err := yaml.Unmarshal(data, &settings); err != nil {
		return fmt.Errorf("--config %s: not YAML or JSON: %w", file, err)
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fl := flags.Lookup(k)
		if fl == nil || k == "config" {
			return fmt.Errorf("--config %s: unknown setting %q (settings are named as run's flags, e.g. mysql-dsn)", file, k)
		}
		if fl.Changed {
			continue // the command line wins
		}
		var value string
		switch v := settings[k].(type) {
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			value = strings.Join(parts, ",")
		case nil:
			continue
		default:
			value = fmt.Sprint(v)
		}
		if err := flags.Set(k, value); err != nil {
			return fmt.Errorf("--config %s: %s: %w", file, k, err)
		}
	}
	return nil
}

// validate checks the settings before anything starts; each error names the flag at fault.
func (o *runOptions) validate(flags *pflag.FlagSet) error {
	if o.name == "" {
		return fmt.Errorf("--name is required: the pipeline's name (its groups, topics and positions are named after it)")
	}
	if _, ok := fromFlags[o.from]; !ok {
		return fmt.Errorf("--from %q: want mysql, file or topic", o.from)
	}
	if _, ok := toFlags[o.to]; !ok {
		return fmt.Errorf("--to %q: want elasticsearch, topic or file", o.to)
	}
	for kind, names := range fromFlags {
		for _, n := range names {
			if kind != o.from && flags.Changed(n) {
				return fmt.Errorf("--%s is for --from %s, not --from %s", n, kind, o.from)
			}
		}
	}
	for kind, names := range toFlags {
		for _, n := range names {
			if kind != o.to && flags.Changed(n) {
				return fmt.Errorf("--%s is for --to %s, not --to %s", n, kind, o.to)
			}
		}
	}
	if o.partitions < 1 {
		return fmt.Errorf("--partitions %d: want 1 or more", o.partitions)
	}
	if !flags.Changed("unwrap") {
		o.unwrap = o.from == "mysql"
	}
	switch o.from {
	case "mysql":
		if o.mysqlDSN == "" {
			return fmt.Errorf("--mysql-dsn is required with --from mysql, e.g. 'user:password@tcp(127.0.0.1:3306)/'")
		}
		if err := secret.ResolveField("--mysql-dsn", "", &o.mysqlDSN, false); err != nil { // ${env:}/${file:}
			return err
		}
		if _, err := mysqldriver.ParseDSN(o.mysqlDSN); err != nil {
			return fmt.Errorf("--mysql-dsn: %w", err)
		}
		if len(o.tables) == 0 {
			return fmt.Errorf("--tables is required with --from mysql: db.table, comma-separated")
		}
		for _, t := range o.tables {
			db, table, ok := strings.Cut(t, ".")
			if !ok || db == "" || table == "" || strings.Contains(table, ".") {
				return fmt.Errorf("--tables %q: want db.table", t)
			}
			if strings.ContainsAny(t, "*?[") {
				return fmt.Errorf("--tables %q: name each table (patterns are not taken here: each table gets its own topic)", t)
			}
		}
		switch o.snapshot {
		case "initial", "never", "initial_only", "when_needed":
		default:
			return fmt.Errorf("--snapshot %q: want initial, never, initial_only or when_needed", o.snapshot)
		}
	case "file":
		if len(o.path) == 0 {
			return fmt.Errorf("--path is required with --from file")
		}
	case "topic":
		if o.topic == "" {
			return fmt.Errorf("--topic is required with --from topic: the existing topic to read")
		}
	}
	switch o.to {
	case "elasticsearch":
		if err := secret.ResolveField("--es-url", "", &o.esURL, false); err != nil { // ${env:}/${file:}
			return err
		}
		u, err := url.Parse(o.esURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--es-url %q: want http://host:port", secret.RedactDSN(o.esURL))
		}
		if o.index == "" {
			return fmt.Errorf("--index is empty: give an index name or a template such as {topic}")
		}
		if o.id == "" {
			o.id = "key"
			if o.from == "file" {
				o.id = "offset" // every line of a file has the same key (its path)
			}
		}
		if o.id != "key" && o.id != "offset" {
			return fmt.Errorf("--id %q: want key or offset", o.id)
		}
	case "topic":
		if o.toTopic == "" {
			return fmt.Errorf("--to-topic is required with --to topic")
		}
		if o.from == "topic" && o.toTopic == o.topic {
			return fmt.Errorf("--to-topic %q is the input --topic", o.toTopic)
		}
	case "file":
		if o.out == "" {
			return fmt.Errorf("--out is required with --to file")
		}
	}
	switch o.progress {
	case "auto", "bar", "log":
	default:
		return fmt.Errorf("--progress %q: want auto, bar or log", o.progress)
	}
	return nil
}

// defaultServerID derives a replication server_id from the pipeline's name, so that two ad-hoc pipelines
// on one server do not evict each other, and one pipeline keeps its id across runs.
func defaultServerID(name string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return 100000 + h%1000000
}
