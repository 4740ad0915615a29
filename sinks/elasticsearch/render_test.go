package elasticsearch

import (
	"math/big"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Render gives the index, id and body that Write sends, without a connection; deletes have no body.
func TestRender(t *testing.T) {
	s, err := New(Config{URLs: []string{"http://127.0.0.1:1"}, Index: "Orders-{topic}"})
	if err != nil {
		t.Fatal(err)
	}
	schema := stream.NewStruct("row").Field("id", stream.Int32Schema()).Field("amount", stream.DecimalSchema(2)).
		Field("day", stream.DateSchema()).MustBuild()
	row, _ := stream.NewStructValue(schema)
	row.Put("id", int32(7))
	row.Put("amount", stream.Decimal{Unscaled: big.NewInt(4200), Scale: 2})
	row.Put("day", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	d, err := s.Render(&stream.Record{Topic: "eu", Key: int32(7), ValueSchema: schema, Value: row})
	if err != nil {
		t.Fatal(err)
	}
	if d.Index != "orders-eu" || d.ID != "7" || d.Delete || string(d.Body) != `{"id":7,"amount":"42.00","day":"2026-11-30"}` {
		t.Errorf("Render = %+v (body %s)", d, d.Body)
	}
	d, err = s.Render(&stream.Record{Topic: "eu", Key: int32(7), Operation: stream.OpDelete})
	if err != nil || !d.Delete || d.Body != nil || d.ID != "7" {
		t.Errorf("Render of a tombstone = %+v, %v", d, err)
	}
}
