// Command conduit is Conduit v0.14.0 (github.com/conduitio/conduit/cmd/conduit, Apache-2.0) built from this
// module, so that the peer benchmark (bench/peers, conduit_test.go) runs the version pinned in go.mod. It is
// upstream's main function unchanged: Conduit's default configuration with its built-in connectors.
package main

import (
	"github.com/conduitio/conduit/cmd/conduit/cli"
	"github.com/conduitio/conduit/pkg/conduit"
)

func main() {
	cli.Run(conduit.DefaultConfig())
}
