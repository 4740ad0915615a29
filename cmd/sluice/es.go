package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/secret"
	"github.com/spf13/cobra"
)

func esCommand() *cobra.Command {
	es := &cobra.Command{Use: "es", Short: "Elasticsearch-compatible server for examples and tests"}
	var addr, dataDir string
	var refresh time.Duration
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the embedded Elasticsearch-compatible server (see go doc ./esserver for where it differs)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(secret.NewHandler(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
			cfg := esserver.Config{Addr: addr, DataDir: dataDir, RefreshInterval: refresh, Logger: log}
			srv, err := esserver.Start(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Elasticsearch-compatible server on %s (data dir %q); try: curl %s/_cat/indices?v\n", srv.URL(), dataDir, srv.URL())
			<-cmd.Context().Done()
			return srv.Close()
		},
	}
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:9200", "listen address")
	serve.Flags().StringVar(&dataDir, "data-dir", "", "keep documents here, durable across crashes (empty: in memory)")
	serve.Flags().DurationVar(&refresh, "refresh-interval", time.Second, "how often new documents become searchable")
	es.AddCommand(serve)
	return es
}
