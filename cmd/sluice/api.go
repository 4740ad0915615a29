package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/spf13/cobra"
)

// defaultAPIURL is where a pipeline serves its operator API unless SLUICE_HTTP_ADDR says otherwise.
const defaultAPIURL = "http://127.0.0.1:8083"

// apiFlags are the flags of every command that talks to a pipeline's operator API.
type apiFlags struct {
	url     string
	token   string
	caFile  string
	timeout time.Duration
	output  string
}

func (f *apiFlags) register(cmd *cobra.Command, withOutput bool) {
	def := os.Getenv("SLUICE_API_URL")
	if def == "" {
		def = defaultAPIURL
	}
	cmd.Flags().StringVar(&f.url, "url", def, "the pipeline's operator API (default $SLUICE_API_URL or "+defaultAPIURL+")")
	cmd.Flags().StringVar(&f.caFile, "ca-file", os.Getenv("SLUICE_API_CA_FILE"), "PEM file of the CAs that sign the API's HTTPS certificate (default $SLUICE_API_CA_FILE, else the system's roots)")
	cmd.Flags().StringVar(&f.token, "token", "", "the API token, sent as a bearer token (default $SLUICE_API_TOKEN; prefer the variable: flags show in ps)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "deadline of the command's calls to the API")
	f.output = outputTable
	if withOutput {
		cmd.Flags().StringVarP(&f.output, "output", "o", outputTable, "table (for people) or json (the API's answer, for scripts)")
	}
}

// client checks the flags and returns the API client and a context that ends at the deadline or on Ctrl-C.
func (f *apiFlags) client(cmd *cobra.Command) (*opsapi.Client, context.Context, context.CancelFunc, error) {
	if err := checkOutput(f.output); err != nil {
		return nil, nil, nil, err
	}
	if f.timeout <= 0 {
		return nil, nil, nil, fmt.Errorf("--timeout %v: want a positive duration", f.timeout)
	}
	u := strings.TrimRight(f.url, "/")
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		if u == "" || strings.Contains(u, "://") {
			return nil, nil, nil, fmt.Errorf("--url %q: want http://host:port", f.url)
		}
		u = "http://" + u // a bare host:port, as SLUICE_HTTP_ADDR is written
	}
	ctx, cancel := contextWithTimeout(cmd, f.timeout)
	token := f.token
	if token == "" {
		token = os.Getenv("SLUICE_API_TOKEN")
	}
	hc := &http.Client{}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			cancel()
			return nil, nil, nil, fmt.Errorf("--ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			cancel()
			return nil, nil, nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", f.caFile)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	}
	return &opsapi.Client{BaseURL: u, HTTP: hc, Token: token}, ctx, cancel, nil
}

// call sends one request and prints the answer: with -o json the API's JSON as it is (indented), else
// decoded into typed and shown by show.
func (f *apiFlags) call(cmd *cobra.Command, c *opsapi.Client, ctx context.Context, method, path string, q url.Values, body, typed any, show func() error) error {
	var raw json.RawMessage
	if err := c.Do(ctx, method, path, q, body, &raw); err != nil {
		return err
	}
	if f.output == outputJSON {
		if len(raw) > 0 {
			json.Unmarshal(raw, typed) // for what follows (--wait); the answer is printed as it is
		}
		return writeRawJSON(cmd.OutOrStdout(), raw)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, typed); err != nil {
			return fmt.Errorf("%s %s%s: the answer is not the expected JSON (%v): %.200s", method, c.BaseURL, path, err, raw)
		}
	}
	return show()
}

func pipelinesCommand() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "pipelines",
		Short: "List the pipelines a replica runs, with their state across replicas",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var names []string
			return f.call(cmd, c, ctx, http.MethodGet, "/pipelines", nil, nil, &names, func() error {
				t := newTable(cmd.OutOrStdout(), "NAME", "STATE", "REPLICAS", "TASKS", "PARTITIONS")
				for _, name := range names {
					st, err := c.Status(ctx, name)
					if err != nil {
						return err
					}
					t.row(name, st.State, strconv.Itoa(len(st.Replicas)), strconv.Itoa(len(st.Tasks)), strconv.Itoa(len(st.Partitions)))
				}
				return t.flush()
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

func statusCommand() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a pipeline's state: replicas, source tasks and flow partitions, with owners, lag and errors",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var st opsapi.Status
			return f.call(cmd, c, ctx, http.MethodGet, opsapi.PipelinePath(args[0], "status"), nil, nil, &st,
				func() error { return printStatus(cmd, st) })
		},
	}
	f.register(cmd, true)
	return cmd
}

func printStatus(cmd *cobra.Command, st opsapi.Status) error {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "pipeline %s: %s\n\n", st.Name, st.State)
	t := newTable(w, "REPLICA", "STATE", "HTTP", "UPDATED", "ERROR")
	for _, r := range st.Replicas {
		updated := ""
		if !r.Updated.IsZero() {
			updated = time.Since(r.Updated).Round(time.Second).String() + " ago"
		}
		t.row(r.ID, r.State, r.HTTPAddr, updated, r.Error)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "SOURCE", "TASK", "STATE", "REPLICA", "LAG", "STALLED", "ERROR")
	for _, task := range st.Tasks {
		lag := ""
		if task.Lag != nil {
			lag = strings.TrimSpace(strconv.FormatFloat(*task.Lag, 'f', -1, 64) + " " + task.LagUnit)
		}
		t.row(task.Source, task.Task, task.State, task.Replica, lag, yesNo(task.Stalled), task.LastError)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "FLOW", "STEP", "TOPIC", "PARTITION", "STATE", "REPLICA", "OFFSET", "LAG", "STALLED", "ERROR")
	for _, p := range st.Partitions {
		t.row(p.Flow, p.Step, p.Topic, strconv.Itoa(int(p.Partition)), p.State, p.Replica,
			strconv.FormatInt(p.Offset, 10), strconv.FormatInt(p.Lag, 10), yesNo(p.Stalled), p.LastError)
	}
	if err := t.flush(); err != nil {
		return err
	}
	return printBackpressure(w, st) // backpressure.go
}

// stateChangeCommand is pause, resume and stop: one PUT each.
func stateChangeCommand(use, short string) *cobra.Command {
	var f apiFlags
	var wait bool
	cmd := &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var sc opsapi.StateChange
			err = f.call(cmd, c, ctx, http.MethodPut, opsapi.PipelinePath(args[0], use), nil, nil, &sc,
				func() error { return printStateChange(cmd, sc) })
			if err != nil || !wait {
				return err
			}
			if err := waitForState(ctx, c, args[0], sc.Target); err != nil {
				return err
			}
			if f.output == outputTable {
				fmt.Fprintf(cmd.OutOrStdout(), "pipeline %s: %s on every replica\n", args[0], sc.Target)
			}
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&wait, "wait", false, "return once every replica reports the new state (within --timeout)")
	return cmd
}

// waitForState polls the pipeline's status until its merged state is target, until ctx ends.
func waitForState(ctx context.Context, c *opsapi.Client, name, target string) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		st, err := c.Status(ctx, name)
		if err == nil && st.State == target {
			return nil
		}
		if err == nil {
			last = st.State
		}
		select {
		case <-ctx.Done():
			if last == "" && err != nil {
				return fmt.Errorf("--wait: pipeline %s: %w", name, err)
			}
			return fmt.Errorf("--wait: pipeline %s is still %s, not %s, at the end of --timeout", name, last, target)
		case <-tick.C:
		}
	}
}

func printStateChange(cmd *cobra.Command, sc opsapi.StateChange) error {
	line := fmt.Sprintf("pipeline %s: every replica moves to %s", sc.Name, sc.Target)
	if sc.Message != "" {
		line += " (" + sc.Message + ")"
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), line)
	return err
}

func restartCommand() *cobra.Command {
	var f apiFlags
	var target opsapi.RestartTarget
	cmd := &cobra.Command{
		Use:   "restart NAME [--flow F | --source S [--task T]]",
		Short: "Restart a pipeline's processors on every replica: all of them, one flow's, one source's or one task",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target.Flow != "" && target.Source != "" {
				return errors.New("--flow and --source: give one of them")
			}
			if target.Task != "" && target.Source == "" {
				return errors.New("--task needs --source (the source the task belongs to)")
			}
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			q := url.Values{}
			for k, v := range map[string]string{"flow": target.Flow, "source": target.Source, "task": target.Task} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var sc opsapi.StateChange
			return f.call(cmd, c, ctx, http.MethodPost, opsapi.PipelinePath(args[0], "restart"), q, nil, &sc,
				func() error { return printStateChange(cmd, sc) })
		},
	}
	cmd.Flags().StringVar(&target.Flow, "flow", "", "restart only this flow's processors")
	cmd.Flags().StringVar(&target.Source, "source", "", "restart only this source's processor")
	cmd.Flags().StringVar(&target.Task, "task", "", "with --source: restart only this task (its claim released and taken again)")
	f.register(cmd, true)
	return cmd
}

func controlCommands() []*cobra.Command {
	return []*cobra.Command{
		stateChangeCommand("pause", "Pause a pipeline on every replica: sources read nothing, sinks receive nothing"),
		stateChangeCommand("resume", "Resume a paused or stopped pipeline on every replica"),
		stateChangeCommand("stop", "Stop a pipeline's processors on every replica (offsets can then be changed)"),
		restartCommand(),
		rebuildCommand(),  // rebuild.go
		rewindCommand(),   // rewind.go
		snapshotCommand(), // snapshot.go
	}
}

func offsetsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "offsets",
		Short: "Read and change a pipeline's source positions and flow offsets (changes only while it is stopped)",
	}
	cmd.AddCommand(offsetsGetCommand(), offsetsSetCommand(), offsetsResetCommand())
	return cmd
}

func offsetsGetCommand() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show every source task's saved position and every flow partition's committed offset",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var offs opsapi.Offsets
			return f.call(cmd, c, ctx, http.MethodGet, opsapi.PipelinePath(args[0], "offsets"), nil, nil, &offs,
				func() error { return printOffsets(cmd, offs) })
		},
	}
	f.register(cmd, true)
	return cmd
}

func printOffsets(cmd *cobra.Command, offs opsapi.Offsets) error {
	t := newTable(cmd.OutOrStdout(), "KIND", "SOURCE/GROUP", "TASK/TOPIC", "PARTITION", "OFFSET")
	for _, o := range offs.Offsets {
		p := o.Partition
		switch p.Kind {
		case "source":
			t.row(p.Kind, p.Source, p.Task, "", string(o.Offset))
		default:
			part := ""
			if p.Partition != nil {
				part = strconv.Itoa(int(*p.Partition))
			}
			t.row(p.Kind, p.Group, p.Topic, part, flowOffsetText(o.Offset))
		}
	}
	return t.flush()
}

// flowOffsetText shows {"offset":N} as N, anything else as it is.
func flowOffsetText(raw json.RawMessage) string {
	var v struct {
		Offset *int64 `json:"offset"`
	}
	if json.Unmarshal(raw, &v) == nil && v.Offset != nil {
		return strconv.FormatInt(*v.Offset, 10)
	}
	return string(raw)
}

func offsetsSetCommand() *cobra.Command {
	var f apiFlags
	var file, source, task, position, group, topic, offset string
	var partition int32
	cmd := &cobra.Command{
		Use:   "set NAME (--file OFFSETS.json | --source S --task T --position JSON | --group G --topic X --partition N --offset O)",
		Short: "Set source positions or flow offsets of a stopped pipeline (null deletes: the source's initial position, the flow's start offset)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			var body opsapi.Offsets
			switch {
			case file != "":
				if flags.Changed("source") || flags.Changed("group") {
					return errors.New("--file: give either a file or --source/--group flags, not both")
				}
				data, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				if err := json.Unmarshal(data, &body); err != nil {
					return fmt.Errorf("--file %s: not an offsets document {\"offsets\":[{\"partition\":{...},\"offset\":...}]}: %v", file, err)
				}
				if len(body.Offsets) == 0 {
					return fmt.Errorf("--file %s: no offsets in it", file)
				}
			case source != "":
				if flags.Changed("group") {
					return errors.New("--source and --group: set a source position or a flow offset, not both")
				}
				if task == "" {
					return errors.New("--source needs --task (see `sluice offsets get` for the task keys)")
				}
				if !flags.Changed("position") {
					return errors.New("--source needs --position (the position as JSON, as `sluice offsets get -o json` shows it, or null)")
				}
				if !json.Valid([]byte(position)) {
					return fmt.Errorf("--position %q: not JSON", position)
				}
				body.Offsets = []opsapi.Offset{{Partition: opsapi.OffsetPartition{Kind: "source", Source: source, Task: task},
					Offset: json.RawMessage(position)}}
			case group != "":
				if topic == "" || !flags.Changed("partition") || !flags.Changed("offset") {
					return errors.New("--group needs --topic, --partition and --offset")
				}
				var value json.RawMessage
				if offset == "null" {
					value = json.RawMessage("null")
				} else {
					n, err := strconv.ParseInt(offset, 10, 64)
					if err != nil || n < 0 {
						return fmt.Errorf("--offset %q: want an offset (0 or more) or null", offset)
					}
					value = json.RawMessage(fmt.Sprintf(`{"offset":%d}`, n))
				}
				p := partition
				body.Offsets = []opsapi.Offset{{Partition: opsapi.OffsetPartition{Kind: "flow", Group: group, Topic: topic, Partition: &p},
					Offset: value}}
			default:
				return errors.New("say what to set: --file, --source with --task and --position, or --group with --topic, --partition and --offset")
			}
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var msg opsapi.Message
			return f.call(cmd, c, ctx, http.MethodPatch, opsapi.PipelinePath(args[0], "offsets"), nil, body, &msg,
				func() error { return printMessage(cmd, msg) })
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "a JSON file with the PATCH body: {\"offsets\":[{\"partition\":{...},\"offset\":...}]}")
	cmd.Flags().StringVar(&source, "source", "", "the source whose task position to set")
	cmd.Flags().StringVar(&task, "task", "", "the task's key, e.g. file:/var/log/app.log")
	cmd.Flags().StringVar(&position, "position", "", "the task's position as JSON, or null to start from the source's initial position")
	cmd.Flags().StringVar(&group, "group", "", "the consumer group of the flow or stateful step")
	cmd.Flags().StringVar(&topic, "topic", "", "the topic the group consumes")
	cmd.Flags().Int32Var(&partition, "partition", 0, "the partition")
	cmd.Flags().StringVar(&offset, "offset", "", "the next offset to process, or null for the flow's start offset")
	f.register(cmd, true)
	return cmd
}

func offsetsResetCommand() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "reset NAME",
		Short: "Delete every offset of a stopped pipeline: sources start from their initial positions, flows from their start offsets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var msg opsapi.Message
			return f.call(cmd, c, ctx, http.MethodDelete, opsapi.PipelinePath(args[0], "offsets"), nil, nil, &msg,
				func() error { return printMessage(cmd, msg) })
		},
	}
	f.register(cmd, true)
	return cmd
}

func printMessage(cmd *cobra.Command, msg opsapi.Message) error {
	_, err := fmt.Fprintln(cmd.OutOrStdout(), msg.Message)
	return err
}
