package schemaregistry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/stream"
)

// An embedded registry on an in-memory log: register a schema, evolve it, be refused, and read it back
// over Confluent's REST API.
func Example() {
	ctx := context.Background()
	reg, err := schemaregistry.OpenEmbedded(ctx, schemaregistry.NewMemoryLog(), schemaregistry.EmbeddedOptions{})
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	v1 := `{"type":"record","name":"Value","namespace":"shop.orders","fields":[
		{"name":"id","type":"long"},{"name":"note","type":"string"}]}`
	id, _ := reg.Register(ctx, "shop.orders-value", stream.RegisteredSchema{Schema: v1})
	fmt.Println("v1 id:", id)

	// Under FORWARD, consumers still on v1 must read what the new schema writes: dropping "note" is refused.
	_ = reg.SetCompatibility(ctx, "shop.orders-value", "FORWARD")
	v2 := `{"type":"record","name":"Value","namespace":"shop.orders","fields":[{"name":"id","type":"long"}]}`
	_, err = reg.Register(ctx, "shop.orders-value", stream.RegisteredSchema{Schema: v2})
	fmt.Println(errors.Is(err, stream.ErrIncompatibleSchema))
	fmt.Println(err)

	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	resp, _ := http.Get(srv.URL + "/subjects/shop.orders-value/versions/latest")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(strings.TrimSpace(string(body)))
	// Output:
	// v1 id: 1
	// true
	// schema for subject "shop.orders-value" is incompatible under FORWARD: field "note" (in record shop.orders.Value) was removed and has no default in the previous version 1
	// {"subject":"shop.orders-value","id":1,"version":1,"schema":"{\"name\":\"shop.orders.Value\",\"type\":\"record\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"note\",\"type\":\"string\"}]}"}
}
