package main

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/spf13/cobra"
)

// dlqCommand is `sluice dlq list|show|replay`: the dead letters of a running pipeline, through its operator
// API (GET /pipelines/{name}/dlq, GET .../dlq/records, POST .../dlq/replay).
func dlqCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect a pipeline's dead letters and replay them once the cause is fixed",
		Long: `Dead letters are the records a pipeline set aside (undecodable, refused by a stage, rejected by the
sink), with their lineage in sluice.errors.* headers. 'list' counts them by state, stage and class; 'show'
lists them (lineage and key; values only with --values, they may be sensitive); 'replay' re-injects them
where they failed, after you fixed the stage or the data. A record that fails again comes back with its
attempts raised; at SLUICE_DLQ_MAX_ATTEMPTS (default 3) it is quarantined and replayed only with
--include-quarantined.`,
	}
	cmd.AddCommand(dlqListCommand(), dlqShowCommand(), dlqReplayCommand())
	return cmd
}

func dlqListCommand() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "list NAME",
		Short: "Count a pipeline's dead letters per topic: pending, replaying, done, failed again, quarantined",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var sum opsapi.DLQSummary
			return f.call(cmd, c, ctx, http.MethodGet, opsapi.DLQPath(args[0], ""), nil, nil, &sum, func() error {
				t := newTable(cmd.OutOrStdout(), "TOPIC", "RECORDS", "PENDING", "REPLAYING", "DONE", "FAILED_AGAIN", "QUARANTINED", "OPEN BY STAGE", "OPEN BY CLASS")
				for _, tc := range sum.Topics {
					t.row(tc.Topic, strconv.Itoa(tc.Records), strconv.Itoa(tc.Pending), strconv.Itoa(tc.Replaying), strconv.Itoa(tc.Done),
						strconv.Itoa(tc.FailedAgain), strconv.Itoa(tc.Quarantined), countsText(tc.ByStage), countsText(tc.ByClass))
				}
				if err := t.flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "quarantined after %d attempts\n", sum.MaxAttempts)
				return err
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

// countsText is "a=1 b=2", sorted by name; "-" when empty.
func countsText(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "(none)"
		}
		parts[i] = fmt.Sprintf("%s=%d", name, m[k])
	}
	return strings.Join(parts, " ")
}

// dlqFilterFlags are the filters of show and replay.
type dlqFilterFlags struct {
	f            opsapi.DLQFilter
	since, until string
}

func (d *dlqFilterFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&d.f.Topic, "topic", "", "only this dead-letter topic")
	cmd.Flags().StringVar(&d.f.Stage, "stage", "", "only records that failed in this stage (decode, sink, or a stage's name)")
	cmd.Flags().StringVar(&d.f.Error, "error", "", "only records whose reason contains this text (case-insensitive)")
	cmd.Flags().StringVar(&d.since, "since", "", "only records set aside at or after this time (RFC 3339, or a duration ago such as 2h)")
	cmd.Flags().StringVar(&d.until, "until", "", "only records set aside before this time (RFC 3339, or a duration ago)")
	cmd.Flags().IntVar(&d.f.Limit, "limit", 0, "at most this many records, oldest first (0: all)")
}

// filter is the flags' filter, with --since and --until read.
func (d *dlqFilterFlags) filter() (opsapi.DLQFilter, error) {
	f := d.f
	for _, x := range []struct {
		flag, v string
		at      *time.Time
	}{{"--since", d.since, &f.Since}, {"--until", d.until, &f.Until}} {
		if x.v == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, x.v); err == nil {
			*x.at = t
		} else if ago, derr := time.ParseDuration(x.v); derr == nil && ago >= 0 {
			*x.at = time.Now().Add(-ago)
		} else {
			return f, fmt.Errorf("%s %q: want an RFC 3339 time (2026-11-30T21:00:00Z) or a duration ago (2h)", x.flag, x.v)
		}
	}
	if f.Limit < 0 {
		return f, fmt.Errorf("--limit %d: want 0 (all) or more", f.Limit)
	}
	return f, nil
}

func dlqShowCommand() *cobra.Command {
	var f apiFlags
	var filters dlqFilterFlags
	var values bool
	cmd := &cobra.Command{
		Use:   "show NAME [--topic T] [--stage S] [--error TEXT] [--since T] [--until T] [--limit N] [--values]",
		Short: "List a pipeline's dead letters with their lineage (values only with --values)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			flt, err := filters.filter()
			if err != nil {
				return err
			}
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			q := flt.Query()
			if values {
				q.Set("values", "true")
			}
			var recs opsapi.DLQRecords
			return f.call(cmd, c, ctx, http.MethodGet, opsapi.DLQPath(args[0], "records"), q, nil, &recs, func() error {
				header := []string{"DEAD LETTER", "STATE", "ATTEMPTS", "STAGE", "CLASS", "FROM", "ORIGIN", "KEY", "REASON"}
				if values {
					header = append(header, "VALUE")
				}
				t := newTable(cmd.OutOrStdout(), header...)
				for _, r := range recs.Records {
					from, origin := "flow "+r.Flow, fmt.Sprintf("%s/%d@%d", r.OriginTopic, r.OriginPartition, r.OriginOffset)
					if r.Flow == "" {
						from, origin = "source "+r.Source, r.Position
					}
					row := []string{fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset), r.State, strconv.Itoa(r.Attempts),
						r.Stage, r.Class, from, origin, oneLine(r.Key, 40), oneLine(r.Reason, 100)}
					if values {
						v := ""
						if r.Value != nil {
							v = oneLine(*r.Value, 200)
						}
						row = append(row, v)
					}
					t.row(row...)
				}
				if err := t.flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%d dead letters\n", len(recs.Records))
				return err
			})
		},
	}
	filters.register(cmd)
	cmd.Flags().BoolVar(&values, "values", false, "show the records' values too (the user's data: may be sensitive)")
	f.register(cmd, true)
	return cmd
}

// oneLine is s on one line, cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func dlqReplayCommand() *cobra.Command {
	var f apiFlags
	var filters dlqFilterFlags
	var wait bool
	cmd := &cobra.Command{
		Use:   "replay NAME [--topic T] [--stage S] [--error TEXT] [--since T] [--until T] [--limit N] [--include-quarantined] [--wait]",
		Short: "Re-inject a pipeline's pending dead letters where they failed, after the cause was fixed",
		Long: `Replay re-injects the pending dead letters the filters select into the flow they failed in: they are
decoded, go through the flow's stages and reach its sink again. A record the sink acknowledges is DONE;
one that fails again is dead-lettered again with its attempts raised (FAILED_AGAIN names its new dead
letter), and quarantined once its attempts reach the limit. With --wait the command follows the replay
until no selected record is in flight, then prints how many were written and how many failed again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			flt, err := filters.filter()
			if err != nil {
				return err
			}
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var res opsapi.DLQReplay
			err = f.call(cmd, c, ctx, http.MethodPost, opsapi.DLQPath(args[0], "replay"), nil, flt, &res, func() error {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "replay %s: %d dead letters re-injected%s\n", res.ID, res.Selected, skippedText(res.Skipped))
				return err
			})
			if err != nil || !wait || res.Selected == 0 {
				return err
			}
			return waitForReplay(cmd, &f, c, args[0], res)
		},
	}
	filters.register(cmd)
	cmd.Flags().BoolVar(&filters.f.IncludeQuarantined, "include-quarantined", false, "replay quarantined records too (their attempts reached the limit)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the replay until every re-injected record was written or failed again; --timeout bounds each call")
	f.register(cmd, true)
	return cmd
}

func skippedText(skipped map[string]int) string {
	if len(skipped) == 0 {
		return ""
	}
	return " (left alone: " + countsText(skipped) + ")"
}

// waitForReplay polls the dead letters until none of those res re-injected is REPLAYING, then prints how
// many were written and how many failed again (and of those, how many are now quarantined).
func waitForReplay(cmd *cobra.Command, f *apiFlags, c *opsapi.Client, name string, res opsapi.DLQReplay) error {
	want := map[string]bool{}
	for _, r := range res.Records {
		want[fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)] = true
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := contextWithTimeout(cmd, f.timeout)
		recs, err := c.DLQRecords(ctx, name, opsapi.DLQFilter{}, false)
		cancel()
		if err != nil {
			if cmd.Context() != nil && cmd.Context().Err() != nil {
				return fmt.Errorf("--wait: stopped following replay %s (it goes on)", res.ID)
			}
			return fmt.Errorf("--wait: %w", err)
		}
		byRef := map[string]opsapi.DeadLetterRecord{}
		for _, r := range recs.Records {
			byRef[fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)] = r
		}
		var done, failed, quarantined, inFlight int
		for ref := range want {
			r := byRef[ref]
			switch r.State {
			case opsapi.DeadLetterDone:
				done++
			case opsapi.DeadLetterFailedAgain:
				failed++
				if byRef[r.SupersededBy].State == opsapi.DeadLetterQuarantined {
					quarantined++
				}
			default:
				inFlight++
			}
		}
		if inFlight == 0 {
			if f.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"id": res.ID, "selected": res.Selected, "done": done, "failed_again": failed, "quarantined": quarantined})
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "replay %s finished: %d written by the sink, %d failed again (%d of them now quarantined)\n",
				res.ID, done, failed, quarantined)
			return err
		}
		select {
		case <-doneOf(cmd):
			return fmt.Errorf("--wait: stopped following replay %s (it goes on): %d records still in flight", res.ID, inFlight)
		case <-tick.C:
		}
	}
}
