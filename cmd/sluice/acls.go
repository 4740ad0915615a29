package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/sluicehq/sluice/internal/opsapi"
	"github.com/sluicehq/sluice/topology"
	"github.com/spf13/cobra"
)

// aclsCommand prints the Kafka ACLs a pipeline needs, as a running replica derives them from its
// declaration (GET /pipelines/{name}/acls): kafka-acls.sh commands grouped by resource, or JSON.
func aclsCommand() *cobra.Command {
	var f apiFlags
	var principal, bootstrap string
	cmd := &cobra.Command{
		Use:   "acls NAME",
		Short: "Print the least-privilege Kafka ACLs a pipeline needs, as kafka-acls.sh commands (or -o json)",
		Long: `Print the Kafka ACLs that the pipeline's principal needs, and nothing more, as a running replica
derives them from its declaration: one kafka-acls.sh command per ACL, grouped by resource, with the
entries that only operator actions need (pause, resume, stop, restart, offset resets) last. A pipeline
run under a principal holding exactly these starts and runs; with any start-up entry missing it fails
at start-up naming the missing one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if principal == "" {
				return fmt.Errorf("--principal is required, e.g. --principal User:sluice")
			}
			c, ctx, cancel, err := f.client(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var acls []topology.ACL
			q := url.Values{"principal": {principal}}
			return f.call(cmd, c, ctx, http.MethodGet, opsapi.PipelinePath(args[0], "acls"), q, nil, &acls,
				func() error { return printACLs(cmd.OutOrStdout(), acls, bootstrap) })
		},
	}
	f.register(cmd, true)
	def := os.Getenv("SLUICE_BROKERS")
	if def == "" {
		def = "BROKERS"
	}
	cmd.Flags().StringVar(&principal, "principal", "", "the principal the pipeline connects as, e.g. User:sluice (required)")
	cmd.Flags().StringVar(&bootstrap, "bootstrap-server", def, "the --bootstrap-server of the printed commands (default $SLUICE_BROKERS)")
	return cmd
}

// printACLs writes one kafka-acls.sh command per ACL, under a comment line per resource saying what uses
// it; the operator-only entries follow under their own heading.
func printACLs(w io.Writer, acls []topology.ACL, bootstrap string) error {
	write := func(list []topology.ACL) {
		last := ""
		for _, a := range list {
			res := strings.ToLower(a.ResourceType) + " " + a.Name
			if res != last {
				if last != "" {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "# %s\n", res)
				last = res
			}
			fmt.Fprintf(w, "%s   # %s\n", a.KafkaACLsCommand(bootstrap), a.Why)
		}
	}
	var run, operator []topology.ACL
	for _, a := range acls {
		if a.OperatorOnly {
			operator = append(operator, a)
		} else {
			run = append(run, a)
		}
	}
	write(run)
	if len(operator) > 0 {
		fmt.Fprintf(w, "\n# Only for operator actions (pause, resume, stop, restart, offset resets):\n")
		write(operator)
	}
	return nil
}
