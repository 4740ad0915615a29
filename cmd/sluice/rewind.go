package main

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/spf13/cobra"
)

// rewindCommand is `sluice rewind PIPELINE --flow F (--to-time T | --to-offset N | --to earliest|latest)
// [--dry-run]`: POST /pipelines/{name}/flows/{flow}/rewind, printing each partition's change.
func rewindCommand() *cobra.Command {
	var f apiFlags
	var flow, toTime, to string
	var toOffset int64
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "rewind NAME --flow F (--to-time T | --to-offset N | --to earliest|latest) [--dry-run]",
		Short: "Set a stopped pipeline's flow back (or forward) to an offset or a time, to process its topic again",
		Long: `Rewind sets the consumer group of a flow to, per partition of its topic, the first record at or after
a time (--to-time, RFC 3339 or a duration back from now like 72h; Kafka's ListOffsets by timestamp; a
partition without such a record goes to its end), an offset (--to-offset, within each partition's earliest
and end offsets), or the earliest or latest offsets (--to). The pipeline must be stopped on every replica
(sluice stop NAME); resume it afterwards (sluice resume NAME) and the flow processes the topic again from
there. With the Elasticsearch sink's external versions the second pass is idempotent. --dry-run shows the
change and commits nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if flow == "" {
				return errors.New("--flow: name the flow to rewind")
			}
			var req opsapi.RewindRequest
			n := 0
			if cmd.Flags().Changed("to-time") {
				n++
				ts, err := parseRewindTime(toTime, time.Now())
				if err != nil {
					return err
				}
				req.ToTimestamp = ts.UTC().Format(time.RFC3339Nano)
			}
			if cmd.Flags().Changed("to-offset") {
				n++
				if toOffset < 0 {
					return fmt.Errorf("--to-offset %d: want the next offset to process, >= 0", toOffset)
				}
				req.ToOffset = &toOffset
			}
			if cmd.Flags().Changed("to") {
				n++
				if to != "earliest" && to != "latest" {
					return fmt.Errorf(`--to %q: want "earliest" or "latest"`, to)
				}
				req.To = to
			}
			if n != 1 {
				return errors.New("give exactly one of --to-time, --to-offset and --to")
			}
			req.DryRun = dryRun
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var res opsapi.RewindResult
			return f.call(cmd, c, ctx, http.MethodPost, opsapi.RewindPath(args[0], flow), nil, req, &res, func() error {
				return printRewind(cmd, res)
			})
		},
	}
	cmd.Flags().StringVar(&flow, "flow", "", "the flow to rewind (required)")
	cmd.Flags().StringVar(&toTime, "to-time", "", "the first record at or after this time: RFC 3339 (2026-11-27T00:00:00Z) or a duration back from now (72h)")
	cmd.Flags().Int64Var(&toOffset, "to-offset", 0, "this offset on every partition (the next one to process)")
	cmd.Flags().StringVar(&to, "to", "", "earliest or latest")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change; commit nothing")
	f.register(cmd, true)
	return cmd
}

// parseRewindTime reads --to-time: an RFC 3339 time, or a duration back from now.
func parseRewindTime(s string, now time.Time) (time.Time, error) {
	if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return ts, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--to-time %q: want an RFC 3339 time (2026-11-27T00:00:00Z) or a duration back from now (72h)", s)
}

// printRewind prints a rewind's change per partition.
func printRewind(cmd *cobra.Command, res opsapi.RewindResult) error {
	out := cmd.OutOrStdout()
	verb := "rewound"
	if res.DryRun {
		verb = "would be rewound (dry run: nothing committed)"
	}
	fmt.Fprintf(out, "flow %s of pipeline %s %s to %s: group %s on topic %s, %d record(s) to process\n",
		res.Flow, res.Pipeline, verb, res.Target, res.Group, res.Topic, res.Records)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tOLD OFFSET\tNEW OFFSET\tEND OFFSET")
	for _, p := range res.Partitions {
		old := "-"
		if p.Old != nil {
			old = strconv.FormatInt(*p.Old, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\n", p.Partition, old, p.New, p.End)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !res.DryRun {
		_, err := fmt.Fprintf(out, "resume the pipeline to process from there: sluice resume %s\n", res.Pipeline)
		return err
	}
	return nil
}
