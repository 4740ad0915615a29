package firstpipelines_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/mariadbtest"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// mysqlTableToTopic captures a MySQL (here MariaDB) table into a topic: a consistent snapshot of its rows,
// then every change from the binlog, each record keyed by the row's primary key and valued with the row as
// it is after the change (Debezium's envelope unwrapped before Kafka), as JSON that any client reads.
func mysqlTableToTopic(dsn string) (*topology.Topology, error) {
	cdc, err1 := mysql.New(mysql.Config{DSN: dsn, ServerID: 4201, Tables: []string{"shop.customers"},
		SchemaChanges: new(false)}) // no DDL records: only rows reach Kafka
	unwrap, err2 := stages.Unwrap("unwrap", stages.UnwrapConfig{})
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	t := topology.New("customers-feed")
	t.Topic(cdc.Topic("shop.customers"), topology.KeyCodec("json")) // sluice.shop.customers
	t.Source("cdc", cdc).Via(unwrap).ToRecordTopics()               // each table to its own topic
	return t, t.Validate()
}

func Example_mysqlTableToTopic() {
	env := start()
	defer env.close()
	db, err := mariadbtest.Launch() // a private binlog-enabled mariadbd in a temporary directory
	check(err)
	defer db.Stop()
	exec := func(q string) { _, err := db.DB().ExecContext(context.Background(), q); check(err) }
	exec("CREATE DATABASE shop")
	exec("CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(50), balance DECIMAL(10,2))")
	exec("INSERT INTO shop.customers VALUES (1, 'Ada', 12.50), (2, 'Grace', 0.00)")

	t, err := mysqlTableToTopic(db.DSN(""))
	check(err)
	var records []string
	updated := false
	env.run(t, func() bool {
		// kcat -b BROKER -C -t sluice.shop.customers -o beginning -e -f '%k %s\n'
		records, err = env.consumed("sluice.shop.customers")
		if len(records) == 2 && !updated { // the snapshot is in Kafka: now a change from the binlog
			exec("UPDATE shop.customers SET balance = 99.99 WHERE id = 2")
			updated = true
		}
		return len(records) == 3
	})
	for _, record := range records {
		fmt.Println(record)
	}
	// Output:
	// {"id":1} {"id":1,"name":"Ada","balance":12.50}
	// {"id":2} {"id":2,"name":"Grace","balance":0.00}
	// {"id":2} {"id":2,"name":"Grace","balance":99.99}
}
