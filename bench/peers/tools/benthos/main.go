// Command benthos is the Benthos 4.27 (MIT) build the peer benchmark runs (bench/peers, issue 20): a custom
// distribution, as the Benthos documentation describes (https://www.benthos.dev/docs/guides/getting_started
// "Custom Builds"; public/service), with only the components the benchmark's configurations use:
//   - the sql components (sql_select, sql_raw, ...) without their bundled drivers (sql/base), plus the MySQL
//     driver (go-sql-driver/mysql), so the build does not compile ClickHouse, MSSQL, Oracle, Snowflake, SQLite,
//     Trino or Cosmos drivers;
//   - the kafka components (kafka and kafka_franz, one package in 4.27);
//   - the pure components (buffers, processors and utility inputs/outputs of the default configuration).
//
// It lives in its own module so the main module's go.mod does not take Benthos' dependency graph.
package main

import (
	"context"

	"github.com/benthosdev/benthos/v4/public/service"

	_ "github.com/benthosdev/benthos/v4/public/components/kafka"
	_ "github.com/benthosdev/benthos/v4/public/components/pure"
	_ "github.com/benthosdev/benthos/v4/public/components/sql/base"
	_ "github.com/go-sql-driver/mysql"
)

func main() {
	service.RunCLI(context.Background())
}
