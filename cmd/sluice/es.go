package main

import (
	"github.com/spf13/cobra"
)

func esCommand() *cobra.Command {
	es := &cobra.Command{Use: "es", Short: "Elasticsearch-compatible server for examples and tests"}
	return es
}
