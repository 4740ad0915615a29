package mysql_test

import (
	"fmt"

	"github.com/sluicehq/sluice/sources/mysql"
)

// New validates the configuration without connecting; the start-up checks run when the engine calls Tasks.
// Each captured table gets its own topic, which the topology declares; the source has one task, which
// snapshots every table and then streams the binlog as a replica with ServerID.
func ExampleNew() {
	_, err := mysql.New(mysql.Config{DSN: "cdc:secret@tcp(127.0.0.1:3306)/", Tables: []string{"shop.*"}})
	fmt.Println(err)

	src, err := mysql.New(mysql.Config{
		DSN:      "cdc:secret@tcp(127.0.0.1:3306)/",
		ServerID: 4242,
		Tables:   []string{"shop.*"},
		Exclude:  []string{"shop.audit_*"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(src.Topic("shop.orders"), src.TaskKey())
	// Output:
	// mysql source: ServerID is 0: SnapshotMode initial reads the binlog as a replica: give a server_id no other replica of the server uses
	// sluice.shop.orders mysql:sluice
}
