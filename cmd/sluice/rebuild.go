package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/spf13/cobra"
)

// rebuildCommand is `sluice rebuild PIPELINE --flow F [--index N] [--drop-old] [--wait]`: POST
// /pipelines/{name}/flows/{flow}/rebuild, then with --wait GET it until the rebuild is DONE or FAILED.
func rebuildCommand() *cobra.Command {
	var f apiFlags
	var req opsapi.RebuildRequest
	var flow string
	var wait bool
	cmd := &cobra.Command{
		Use:   "rebuild NAME --flow F [--index N] [--drop-old] [--wait]",
		Short: "Rebuild a flow's search index from its topic behind its alias, without downtime",
		Long: `Rebuild fills a new index from the flow's topic with a copy of the flow (a fresh consumer group from
the earliest offsets) while the live flow keeps writing through the alias into the old index; once the
copy has caught up, the alias moves to the new index in one atomic call, and the old index is deleted
with --drop-old. The flow's sink must write through an alias (the Elasticsearch sink's Alias). The copy
runs on the replica that answers --url. A failure leaves the alias on the old index and says why.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if flow == "" {
				return errors.New("--flow: name the flow whose index to rebuild")
			}
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var st opsapi.RebuildStatus
			err = f.call(cmd, c, ctx, http.MethodPost, opsapi.RebuildPath(args[0], flow), nil, req, &st, func() error {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "rebuild of flow %s started on replica %s: alias %s moves from %s to %s once the copy (group %s) caught up\n",
					st.Flow, st.Replica, st.Alias, st.OldIndex, st.NewIndex, st.Group)
				return err
			})
			if err != nil || !wait {
				return err
			}
			return waitForRebuild(cmd, &f, c, args[0], flow)
		},
	}
	cmd.Flags().StringVar(&flow, "flow", "", "the flow whose index to rebuild (required)")
	cmd.Flags().StringVar(&req.Index, "index", "", "name of the new index (default: the next number after the current one, e.g. orders-000002)")
	cmd.Flags().BoolVar(&req.DropOld, "drop-old", false, "delete the old index once the alias points to the new one")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the rebuild until it is DONE (exit 0) or FAILED (exit 1), printing its progress; --timeout bounds each call, Ctrl-C stops following (not the rebuild)")
	f.register(cmd, true)
	return cmd
}

// waitForRebuild polls the rebuild's status, prints each change of state and progress every 5 s, and
// returns nil once it is DONE, its error once it FAILED.
func waitForRebuild(cmd *cobra.Command, f *apiFlags, c *opsapi.Client, name, flow string) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastState, lastPrint := "", time.Time{}
	for {
		ctx, cancel := contextWithTimeout(cmd, f.timeout)
		st, err := c.RebuildStatus(ctx, name, flow)
		cancel()
		if err != nil && cmd.Context() != nil && cmd.Context().Err() != nil {
			return fmt.Errorf("--wait: stopped following the rebuild of flow %s (it goes on)", flow)
		}
		if err != nil {
			return fmt.Errorf("--wait: %w", err)
		}
		if f.output == outputTable && (st.State != lastState || time.Since(lastPrint) >= 5*time.Second) {
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %d records written into %s, lag %d\n", time.Now().Format(time.TimeOnly), st.State, st.Records, st.NewIndex, st.Lag)
			lastState, lastPrint = st.State, time.Now()
		}
		switch st.State {
		case opsapi.RebuildDone:
			if f.output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), st)
			}
			dropped := ""
			if st.DropOld {
				dropped = fmt.Sprintf("; %s deleted", st.OldIndex)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "rebuild of flow %s done: alias %s points to %s (%d records, %s)%s\n",
				flow, st.Alias, st.NewIndex, st.Records, st.Finished.Sub(st.Started).Round(time.Millisecond), dropped)
			return err
		case opsapi.RebuildFailed:
			if f.output == outputJSON {
				_ = writeJSON(cmd.OutOrStdout(), st)
			}
			return fmt.Errorf("rebuild of flow %s failed: %s", flow, st.Error)
		}
		select {
		case <-doneOf(cmd):
			return fmt.Errorf("--wait: stopped following the rebuild of flow %s (it goes on)", flow)
		case <-tick.C:
		}
	}
}

func doneOf(cmd *cobra.Command) <-chan struct{} {
	if ctx := cmd.Context(); ctx != nil {
		return ctx.Done()
	}
	return context.Background().Done()
}
