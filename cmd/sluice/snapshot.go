package main

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/spf13/cobra"
)

// snapshotCommand is `sluice snapshot NAME --source S --table T [--table T2] [--where COND]`:
// POST /pipelines/{name}/sources/{source}/snapshots, an incremental snapshot on demand.
func snapshotCommand() *cobra.Command {
	var f apiFlags
	var source, where string
	var tables []string
	cmd := &cobra.Command{
		Use:   "snapshot NAME --source S --table DB.TABLE [--table ...] [--where COND]",
		Short: "Copy tables of a running CDC source again while it keeps streaming (an incremental snapshot)",
		Long: `Snapshot asks a source of a running pipeline (the MySQL source, with its SignalTable set) to copy the
named tables again, in primary-key chunks, while it keeps streaming changes: Debezium's execute-snapshot
signal. The rows arrive as read events ("op":"r", source.snapshot "incremental") among the changes, and a
copied row never overwrites a newer change of the same key. --where restricts the copy to the rows that
match an SQL condition (Debezium's additional-conditions), for every table named. The command returns once
the request is recorded (in the source's signal table); the source's log shows the progress.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if source == "" {
				return errors.New("--source: name the pipeline's source (as declared with topology's Source)")
			}
			if len(tables) == 0 {
				return errors.New("--table: name at least one table, as db.table")
			}
			req := opsapi.SnapshotRequest{Tables: tables}
			if where != "" {
				req.Conditions = map[string]string{}
				for _, t := range tables {
					req.Conditions[t] = where
				}
			}
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var res opsapi.SnapshotResult
			return f.call(cmd, c, ctx, http.MethodPost, opsapi.SnapshotPath(args[0], source), nil, req, &res, func() error {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "snapshot requested: %s\n", res.Message)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "the source to snapshot (required)")
	cmd.Flags().StringArrayVar(&tables, "table", nil, "a table to copy, db.table (repeat for more)")
	cmd.Flags().StringVar(&where, "where", "", "copy only the rows matching this SQL condition, e.g. 'id > 100'")
	f.register(cmd, true)
	return cmd
}
