// Command benthos is the Benthos 4.27 (MIT) build the peer benchmark runs (bench/peers, issue 20): a custom
// build the way Benthos documents it (service.RunCLI, "This is how a standard distribution of Benthos operates",
// plus the component packages to include: public/components/all's doc and the v4 migration guide,
// website/docs/guides/migration/v4.md, at v4.27.0), with only the components the configuration uses:
//   - the sql components (sql_select, sql_raw, ...) without their bundled drivers (sql/base), plus the MySQL
//     driver (go-sql-driver/mysql), so the build does not compile ClickHouse, MSSQL, Oracle, Snowflake, SQLite,
//     Trino or Cosmos drivers;
//   - the kafka components (kafka and kafka_franz, one package in 4.27);
//   - the pure components: the configuration's `none` buffer and `none` metrics are there (a build without
//     them, 36.6 MB instead of 41.6 MB, rejects the configuration: "unable to infer buffer type").
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
