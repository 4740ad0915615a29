package postgres_test

import (
	"fmt"

	"github.com/sluicehq/sluice/sources/postgres"
)

// New validates the configuration without connecting; the start-up checks (wal_level, tables and primary
// keys, the publication) run when the engine calls Tasks, and the slot is created when the task first
// opens. Each captured table gets its own topic, which the topology declares.
func ExampleNew() {
	_, err := postgres.New(postgres.Config{DSN: "postgres://cdc:secret@127.0.0.1:5432/shop", Tables: []string{"public.orders"}})
	fmt.Println(err)

	src, err := postgres.New(postgres.Config{
		DSN:    "postgres://cdc:secret@127.0.0.1:5432/shop",
		Tables: []string{"public.customers", "public.orders"},
		Slot:   "sluice_shop",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(src.Topic("public.orders"), src.TaskKey())
	// Output:
	// postgres source: Slot is empty: name the replication slot (letters, digits and '_'), unique per source
	// sluice.public.orders postgres:sluice_shop
}
