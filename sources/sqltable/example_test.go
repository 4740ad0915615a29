package sqltable_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/sources/sqltable"
	"github.com/sluicehq/sluice/topology"
)

// New validates the configuration without connecting (the start-up checks run when the engine calls
// Tasks). Each table is a task with its own topic, which the topology declares.
func ExampleNew() {
	_, err := sqltable.New(sqltable.Config{DSN: "postgres://reader@db:5432/shop", Mode: sqltable.ModeTimestamp,
		Tables: []string{"orders"}})
	fmt.Println(err)

	src, err := sqltable.New(sqltable.Config{
		DSN:             "postgres://reader:secret@db:5432/shop",
		Mode:            sqltable.ModeTimestampIncrementing,
		Tables:          []string{"public.orders", "public.customers"},
		TimestampColumn: "updated_at",    // the incrementing column is each table's identity column
		TimestampDelay:  5 * time.Second, // longer than the longest write transaction
		PollInterval:    time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Each record names its table's topic; both topics are declared.
	t := topology.New("shop-tables")
	t.Topic(src.Topic("public.orders"))
	t.Topic(src.Topic("public.customers"))
	t.Source("tables", src).ToRecordTopics()
	fmt.Println(src.Topic("public.orders"), src.Topic("public.customers"), t.Validate())
	// Output:
	// sqltable source: TimestampColumn is empty: Mode timestamp needs it
	// sluice.public.orders sluice.public.customers <nil>
}
