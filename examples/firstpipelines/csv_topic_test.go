package firstpipelines_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/stream"
	"github.com/sluicehq/sluice/topology"
)

// csvFileToTopic reads a CSV file of prices into a topic whose records carry their schema (Kafka
// Connect's JSON with schema and payload), each column typed as declared: prices exact to the cent.
func csvFileToTopic(path string) (*topology.Topology, error) {
	src, err1 := file.New(file.Config{Paths: []string{path}})
	parse, err2 := stages.ParseCSV("parse-prices", stages.CSVConfig{Columns: []stages.CSVColumn{
		{Name: "sku"},
		{Name: "price", Type: stages.CSVDecimal, Scale: 2},
		{Name: "stock", Type: stages.CSVInt},
		{Name: "active", Type: stages.CSVBool},
		{Name: "updated", Type: stages.CSVTimestamp},
	}})
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	t := topology.New("prices")
	prices := t.Topic("prices", topology.ValueCodec("json-schema"))
	t.Source("files", src).Via(parse).To(prices) // the header line is dropped
	return t, t.Validate()
}

func Example_csvFileToTopic() {
	env := start()
	defer env.close()
	path := env.writeFile("prices.csv",
		"sku,price,stock,active,updated",
		"A-1,19.99,12,true,2026-11-30T09:00:00Z",
		"B-2,5.00,0,false,2026-11-30T09:30:00.250Z",
		`"C,3",1234.50,7,true,2026-11-30T10:00:00+01:00`)

	t, err := csvFileToTopic(path)
	check(err)
	var records []string
	env.run(t, func() bool { records, err = env.consumed("prices"); return len(records) == 3 })
	codec, err := stream.LookupCodec("json-schema") // how a pipeline reading the topic decodes it
	check(err)
	for i, record := range records {
		_, value, _ := strings.Cut(record, " ") // the key is the file's path
		schema, v, err := codec.Decode([]byte(value))
		check(err)
		row := v.(*stream.Struct)
		var fields []string
		for _, f := range schema.Fields {
			if i == 0 {
				fmt.Println("field", f.Name, strings.TrimSpace(fmt.Sprint(f.Schema.Type, " ", f.Schema.Name)))
			}
			fields = append(fields, fmt.Sprintf("%s=%v", f.Name, row.Get(f.Name)))
		}
		fmt.Println(strings.Join(fields, " "))
	}
	// Output:
	// field sku string
	// field price bytes org.apache.kafka.connect.data.Decimal
	// field stock int64
	// field active boolean
	// field updated int64 org.apache.kafka.connect.data.Timestamp
	// sku=A-1 price=19.99 stock=12 active=true updated=2026-11-30 09:00:00 +0000 UTC
	// sku=B-2 price=5.00 stock=0 active=false updated=2026-11-30 09:30:00.25 +0000 UTC
	// sku=C,3 price=1234.50 stock=7 active=true updated=2026-11-30 09:00:00 +0000 UTC
}
