package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/verify"
)

// Exit codes of sluice verify.
const (
	verifyExitEqual = 0 // the index equals the table (with --repair --wait: verified clean after the repair)
	verifyExitDiff  = 1 // differences were found (and not verified repaired)
	verifyExitError = 2 // the comparison could not be made
)

// exitError makes main exit with code after printing err.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

type verifyOptions struct {
	dsn, table, topicPrefix    string
	esURL, index, id, decimals string
	user, password, apiKey     string
	keyCodec, valueCodec       string
	exclude, renames           []string
	chunk                      int
	settle, timeout            time.Duration
	repair                     bool
	brokers, topic             string
	wait                       time.Duration
	output                     string
}

// verifyCommand is `sluice verify`.
func verifyCommand() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify --mysql-dsn DSN --table db.t --es-url URL --index I",
		Short: "Compare a MySQL table with the Elasticsearch index a pipeline feeds; --repair re-sends what differs",
		Long: `Compare a MySQL/MariaDB table with the Elasticsearch index a pipeline makes of it, document by document,
by the pipeline's own rules: the row as the MySQL source reads it, through the topic's codecs, stages.Unwrap
(then --exclude/--rename as stages.ReplaceField) and the Elasticsearch sink's rendering (--id, --decimals).
The table is read in primary-key chunks, each a consistent-snapshot SELECT (no lock); every difference is
checked again after --settle before it is reported, so changes the live pipeline is carrying are not.

--repair sends the differing rows through the pipeline, never to the index: the row's current state as a
read event (op "r"), or a delete event and tombstone for a document without a row, into the source topic
(--topic, default <topic-prefix>.<db>.<table>) at --brokers. --wait D then waits until those documents
verify clean.

Exit status: 0 the index equals the table (with --repair --wait: it verified clean after the repair);
1 differences were found (also when --repair sent them without --wait, or --wait ended before they were
repaired); 2 the comparison could not be made.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := runVerify(cmd, o); err != nil {
				var coded *exitError
				if asExit(err, &coded) {
					return err
				}
				return &exitError{code: verifyExitError, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dsn, "mysql-dsn", os.Getenv("SLUICE_MYSQL_DSN"), "MySQL DSN, user:password@tcp(host:3306)/ (default $SLUICE_MYSQL_DSN)")
	f.StringVar(&o.table, "table", "", "the table, db.table")
	f.StringVar(&o.topicPrefix, "topic-prefix", mysql.DefaultTopicPrefix, "the MySQL source's TopicPrefix")
	f.StringVar(&o.esURL, "es-url", envOr("SLUICE_ES_URL", "http://127.0.0.1:9200"), "Elasticsearch URL (or $SLUICE_ES_URL)")
	f.StringVar(&o.index, "index", "", "the index the pipeline writes")
	f.StringVar(&o.id, "id", "", "the sink's document id template (default {key})")
	f.StringVar(&o.decimals, "decimals", "", "the sink's DecimalMapping (exact, keyword, double; default exact)")
	f.StringVar(&o.user, "es-user", "", "Elasticsearch user")
	f.StringVar(&o.password, "es-password", os.Getenv("SLUICE_ES_PASSWORD"), "Elasticsearch password (default $SLUICE_ES_PASSWORD)")
	f.StringVar(&o.apiKey, "es-api-key", os.Getenv("SLUICE_ES_API_KEY"), "Elasticsearch API key (default $SLUICE_ES_API_KEY)")
	f.StringVar(&o.keyCodec, "key-codec", "json-schema", "the source topic's key codec")
	f.StringVar(&o.valueCodec, "value-codec", "json-schema", "the source topic's value codec")
	f.StringSliceVar(&o.exclude, "exclude", nil, "fields the flow drops after Unwrap (ReplaceField exclude)")
	f.StringSliceVar(&o.renames, "rename", nil, "fields the flow renames after Unwrap, old:new (ReplaceField renames)")
	f.IntVar(&o.chunk, "chunk", 1000, "rows per query and ids per index request")
	f.DurationVar(&o.settle, "settle", 5*time.Second, "how long after finding a difference it is checked again")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline of each Elasticsearch request and of producing the repair")
	f.BoolVar(&o.repair, "repair", false, "re-send the differing rows through the pipeline (needs --brokers)")
	f.StringVar(&o.brokers, "brokers", os.Getenv("SLUICE_BROKERS"), "the pipeline's Kafka brokers, comma-separated (default $SLUICE_BROKERS)")
	f.StringVar(&o.topic, "topic", "", "the pipeline's source topic of the table (default <topic-prefix>.<db>.<table>)")
	f.DurationVar(&o.wait, "wait", 0, "with --repair: wait up to this long until the repaired documents verify clean")
	f.StringVarP(&o.output, "output", "o", outputTable, "table or json")
	return cmd
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func asExit(err error, target **exitError) bool {
	e, ok := err.(*exitError)
	if ok {
		*target = e
	}
	return ok
}

// verifyConfig turns the flags into the verify package's configuration; a bad flag is an error naming it.
func verifyConfig(o verifyOptions, log *slog.Logger) (verify.Config, error) {
	if o.dsn == "" {
		return verify.Config{}, fmt.Errorf("--mysql-dsn is empty (or set SLUICE_MYSQL_DSN)")
	}
	if o.table == "" {
		return verify.Config{}, fmt.Errorf("--table is empty: give db.table")
	}
	if o.index == "" {
		return verify.Config{}, fmt.Errorf("--index is empty: give the index the pipeline writes")
	}
	if err := checkOutput(o.output); err != nil {
		return verify.Config{}, err
	}
	if o.repair && o.brokers == "" {
		return verify.Config{}, fmt.Errorf("--repair needs --brokers (or SLUICE_BROKERS): the pipeline's Kafka")
	}
	if o.wait > 0 && !o.repair {
		return verify.Config{}, fmt.Errorf("--wait works with --repair only")
	}
	cfg := verify.Config{
		MySQL: mysql.Config{DSN: o.dsn, TopicPrefix: o.topicPrefix, Logger: log},
		Table: o.table,
		Elasticsearch: elasticsearch.Config{URLs: []string{o.esURL}, Index: o.index, ID: o.id,
			DecimalMapping: elasticsearch.DecimalMapping(o.decimals), Username: o.user, Password: o.password, APIKey: o.apiKey},
		KeyCodec: o.keyCodec, ValueCodec: o.valueCodec, ChunkSize: o.chunk, Settle: o.settle, RequestTimeout: o.timeout,
		Logger: log,
	}
	unwrap, err := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	if err != nil {
		return cfg, err
	}
	cfg.Stages = []stages.Stage{unwrap}
	if len(o.exclude) > 0 || len(o.renames) > 0 {
		rc := stages.ReplaceFieldConfig{Exclude: o.exclude, Renames: map[string]string{}}
		for _, r := range o.renames {
			from, to, ok := strings.Cut(r, ":")
			if !ok || from == "" || to == "" {
				return cfg, fmt.Errorf("--rename %q: want old:new", r)
			}
			rc.Renames[from] = to
		}
		rf, err := stages.ReplaceField("fields", rc)
		if err != nil {
			return cfg, fmt.Errorf("--exclude/--rename: %w", err)
		}
		cfg.Stages = append(cfg.Stages, rf)
	}
	return cfg, nil
}

func runVerify(cmd *cobra.Command, o verifyOptions) error {
	stderr := cmd.ErrOrStderr()
	log := slog.New(secret.NewHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	tty := isTerminal(stderr)
	if !tty {
		log = slog.New(secret.NewHandler(slog.NewTextHandler(stderr, nil))) // periodic progress lines instead of a bar
	}
	cfg, err := verifyConfig(o, log)
	if err != nil {
		return err
	}
	progress, stop := verifyProgress(stderr, tty, log)
	cfg.Progress = progress
	ctx := cmd.Context()
	v, err := verify.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer v.Close()
	rep, err := v.Run(ctx)
	stop()
	if err != nil {
		return err
	}
	out := struct {
		*verify.Report
		Repair *verify.RepairResult `json:"repair,omitempty"`
	}{Report: rep}
	var repairErr error
	if o.repair && !rep.Equal() {
		out.Repair, repairErr = v.Repair(ctx, rep, verify.RepairConfig{Brokers: strings.Split(o.brokers, ","), Topic: o.topic,
			Timeout: o.timeout, Wait: o.wait})
		if out.Repair == nil && repairErr != nil {
			return repairErr
		}
	}
	w := cmd.OutOrStdout()
	if o.output == outputJSON {
		if err := writeJSON(w, out); err != nil {
			return err
		}
	} else if err := printVerify(w, rep, out.Repair); err != nil {
		return err
	}
	switch {
	case rep.Equal():
		return nil
	case out.Repair != nil && o.wait > 0 && out.Repair.Clean:
		return nil
	case out.Repair != nil && o.wait == 0 && len(out.Repair.Unrepairable) == 0:
		return &exitError{code: verifyExitDiff, err: fmt.Errorf("verify: %d difference(s) found and re-sent through the pipeline; run verify again (or use --wait) to see them repaired",
			len(rep.Differences))}
	case repairErr != nil:
		return &exitError{code: verifyExitDiff, err: repairErr}
	}
	return &exitError{code: verifyExitDiff, err: fmt.Errorf("verify: %s differs from %s: %d missing, %d extra, %d different",
		rep.Index, rep.Table, rep.Missing, rep.Extra, rep.Different)}
}

// printVerify prints the report for people: a summary line and one line per difference.
func printVerify(w io.Writer, rep *verify.Report, repair *verify.RepairResult) error {
	fmt.Fprintf(w, "%s -> %s: %d rows, %d documents, %d missing, %d extra, %d different (%.1fs)\n",
		rep.Table, rep.Index, rep.Rows, rep.Documents, rep.Missing, rep.Extra, rep.Different, rep.Seconds)
	if len(rep.Differences) > 0 {
		t := newTable(w, "KIND", "ID", "FIELD", "SOURCE", "INDEX")
		for _, d := range rep.Differences {
			if len(d.Fields) == 0 {
				t.row(string(d.Kind), d.ID, "", "", "")
			}
			for _, f := range d.Fields {
				t.row(string(d.Kind), d.ID, f.Field, clip(f.Source), clip(f.Index))
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if repair != nil {
		fmt.Fprintf(w, "repair: %d rows re-read, %d keys deleted through the pipeline", repair.Reread, repair.Deleted)
		if len(repair.Unrepairable) > 0 {
			fmt.Fprintf(w, "; %d extra documents without a key: %s", len(repair.Unrepairable), strings.Join(repair.Unrepairable, ", "))
		}
		switch {
		case repair.Clean:
			fmt.Fprint(w, "; verified clean")
		case len(repair.Remaining) > 0:
			fmt.Fprintf(w, "; %d still differ", len(repair.Remaining))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// verifyProgress returns the Progress callback: a bar on a terminal, else a log line every 5 seconds.
func verifyProgress(w io.Writer, tty bool, log *slog.Logger) (func(verify.Progress), func()) {
	if !tty {
		var last time.Time
		return func(p verify.Progress) {
			if time.Since(last) >= 5*time.Second {
				last = time.Now()
				log.Info("verify progress", "phase", p.Phase, "done", p.Done, "estimated", p.Estimated, "candidates", p.Candidates)
			}
		}, func() {}
	}
	var bar *progressbar.ProgressBar
	phase := ""
	finish := func() {
		if bar != nil {
			bar.Finish()
			io.WriteString(w, "\n")
		}
	}
	return func(p verify.Progress) {
		if p.Phase != phase {
			finish()
			phase = p.Phase
			bar = progressbar.NewOptions64(max(p.Estimated, 1), progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(p.Phase), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
				progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetWidth(40))
		}
		if p.Done > bar.GetMax64() {
			bar.ChangeMax64(p.Done)
		}
		bar.Set64(p.Done)
	}, finish
}
