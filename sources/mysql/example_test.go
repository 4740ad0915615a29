package mysql_test

import (
	"fmt"

	"github.com/sluicehq/sluice/sources/mysql"
)

// New validates the configuration without connecting; the start-up checks run when the engine calls Tasks.
// Each captured table gets its own topic, which the topology declares.
func ExampleNew() {
	_, err := mysql.New(mysql.Config{DSN: "cdc:secret@tcp(127.0.0.1:3306)/", Tables: []string{"shop.*"}})
	fmt.Println(err)

	src, err := mysql.New(mysql.Config{
		DSN:          "cdc:secret@tcp(127.0.0.1:3306)/",
		Tables:       []string{"shop.*"},
		Exclude:      []string{"shop.audit_*"},
		SnapshotMode: mysql.SnapshotInitialOnly,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(src.Topic("shop.orders"), mysql.TaskKey("shop.orders"))
	// Output:
	// mysql source: SnapshotMode initial (the default) is not implemented yet (it needs binlog streaming): set SnapshotMode to "initial_only"
	// sluice.shop.orders mysql:shop.orders
}
