package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/topology"
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Operate Sluice pipelines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(versionCommand(), brokerCommand(), positionsCommand(), esCommand(), verifyCommand())
	root.AddCommand(pipelinesCommand(), statusCommand(), offsetsCommand(), topicsCommand(), tailCommand())
	root.AddCommand(controlCommands()...)
	root.AddCommand(runCommand())
	root.AddCommand(aclsCommand())    // acls.go
	root.AddCommand(schemasCommand()) // schemas.go
	root.AddCommand(dlqCommand())     // dlq.go
	return root
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build",
		RunE: func(cmd *cobra.Command, _ []string) error {
			version := "(devel)"
			if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
				version = info.Main.Version
			}
			fmt.Fprintln(cmd.OutOrStdout(), "sluice", version)
			return nil
		},
	}
}

func brokerCommand() *cobra.Command {
	var addr, dataDir string
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker on its own, for replicas that share it (SLUICE_BROKERS)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(secret.NewHandler(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
			b, err := broker.Start(broker.Config{Addr: addr, DataDir: dataDir, Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "broker listening on %s (data dir %q); point replicas at it with SLUICE_BROKERS=%s\n",
				b.Addrs()[0], dataDir, b.Addrs()[0])
			<-cmd.Context().Done()
			return b.Close()
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:9092", "listen address (127.0.0.1 only; port 0 picks one)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "sluice-data", "where topics and offsets are kept (empty: in memory)")
	return cmd
}

func positionsCommand() *cobra.Command {
	var brokers, pipeline, source string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "positions",
		Short: "Print the stored position and owner of every task of a source, one JSON object per line (\"read\": false for a task claimed that has read nothing yet)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pipeline == "" || source == "" {
				return fmt.Errorf("--pipeline and --source are required")
			}
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			states, err := topology.Positions(ctx, strings.Split(brokers, ","), pipeline, source)
			if err != nil {
				return err
			}
			keys := make([]string, 0, len(states))
			for k := range states {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, k := range keys {
				st := states[k]
				// "read" false: the task was claimed by a replica (its file may not exist yet) and nothing of
				// it has been acknowledged by Kafka; position is then null.
				if err := enc.Encode(map[string]any{"task": k, "read": st.Position != nil, "position": st.Position, "owner": st.Owner, "updated": st.Updated}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&brokers, "brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	cmd.Flags().StringVar(&pipeline, "pipeline", "", "pipeline name (topology.New)")
	cmd.Flags().StringVar(&source, "source", "", "source name (Topology.Source)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the table")
	return cmd
}
