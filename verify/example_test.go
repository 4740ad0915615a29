package verify_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/esserver"
	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/verify"
)

// exampleTable creates a table of three rows and starts an Elasticsearch-compatible server whose index
// the pipeline has not filled yet.
func exampleTable() (dsn string, es *esserver.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range []string{"DROP DATABASE IF EXISTS vexample", "CREATE DATABASE vexample",
		"CREATE TABLE vexample.orders (id INT PRIMARY KEY, amount DECIMAL(8,2) NOT NULL, status VARCHAR(8) NOT NULL)",
		"INSERT INTO vexample.orders VALUES (1, 42.00, 'paid'), (2, 17.50, 'new'), (3, 5.25, 'new')"} {
		if _, err := db.DB().ExecContext(ctx, q); err != nil {
			panic(err)
		}
	}
	es, err := esserver.Start(esserver.Config{Logger: quiet})
	if err != nil {
		panic(err)
	}
	return db.DSN(""), es
}

// Compare a table with the index a pipeline (MySQL source, json-schema topic, stages.Unwrap, the
// Elasticsearch sink) writes: here the index is still empty, so every row is missing.
func ExampleVerifier_Run() {
	dsn, es := exampleTable()
	defer es.Close()
	ctx := context.Background()
	v, err := verify.New(ctx, verify.Config{
		MySQL:         mysql.Config{DSN: dsn, Logger: quiet},
		Table:         "vexample.orders",
		Elasticsearch: elasticsearch.Config{URLs: []string{es.URL()}, Index: "orders"},
		Settle:        10 * time.Millisecond,
		Logger:        quiet,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	rep, err := v.Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d rows, %d documents, equal: %v\n", rep.Rows, rep.Documents, rep.Equal())
	for _, d := range rep.Differences {
		fmt.Printf("%s id %s key %s\n", d.Kind, d.ID, d.Key)
	}
	// Output:
	// 3 rows, 0 documents, equal: false
	// missing id 1 key 1
	// missing id 2 key 2
	// missing id 3 key 3
}

// A Go function says what document a row becomes when the flow's document is not made by declarative
// stages: here an id of its own and two fields of the row (as the default rule renders them: the decimal
// as a json.Number with its digits).
func ExampleConfig_transform() {
	dsn, es := exampleTable()
	defer es.Close()
	ctx := context.Background()
	v, err := verify.New(ctx, verify.Config{
		MySQL:         mysql.Config{DSN: dsn, Logger: quiet},
		Table:         "vexample.orders",
		Elasticsearch: elasticsearch.Config{URLs: []string{es.URL()}, Index: "orders"},
		Transform: func(row map[string]any) (string, map[string]any, error) {
			if row["status"] == "new" {
				return "", nil, nil // the flow indexes paid orders only
			}
			return fmt.Sprintf("order-%v", row["id"]), map[string]any{"amount": row["amount"], "status": strings.ToUpper(row["status"].(string))}, nil
		},
		Settle: 10 * time.Millisecond,
		Logger: quiet,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()
	rep, err := v.Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range rep.Differences {
		fmt.Println(d.Kind, d.ID)
	}
	// Output:
	// missing order-1
}
