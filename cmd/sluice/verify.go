package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// verifyCommand is `sluice verify`. Placeholder until the verify work lands.
func verifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "verify",
		Short:  "Compare a source table with a sink index",
		Hidden: true,
		RunE:   func(*cobra.Command, []string) error { return errors.New("verify: not built yet") },
	}
}
