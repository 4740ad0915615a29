package stream_test

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/stream"
)

func ExampleNewStruct() {
	address := stream.NewStruct("shop.Address").
		Field("street", stream.StringSchema()).
		Field("zip", stream.Int32Schema()).
		MustBuild()
	customer, err := stream.NewStruct("shop.Customer").
		Field("id", stream.Int64Schema()).
		Field("email", stream.StringSchema().AsOptional()).
		Field("balance", stream.DecimalSchema(2)).
		Field("address", address.AsOptional()).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}

	addr, _ := stream.NewStructValue(address)
	_ = addr.Put("street", "1 Main St")
	_ = addr.Put("zip", "10115") // wrong Go type: zip is an int32
	fmt.Println(addr.Validate())

	_ = addr.Put("zip", int32(10115))
	c, _ := stream.NewStructValue(customer)
	balance, _ := stream.ParseDecimal("12.50")
	for name, v := range map[string]any{"id": int64(42), "balance": balance, "address": addr} {
		if err := c.Put(name, v); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(c, c.Validate())

	id, err := c.GetInt64("id")
	fmt.Println(id, err)
	_, err = c.GetString("id")
	fmt.Println(errors.Is(err, stream.ErrSchemaMismatch), err)
	// Output:
	// stream: schema mismatch: field "zip": nil value for required int32
	// Struct{id=42,balance=12.50,address=Struct{street=1 Main St,zip=10115}} <nil>
	// 42 <nil>
	// true stream: schema mismatch: field "id": value is int64, not string
}

func ExampleJSONSchemaCodec() {
	key := stream.NewStruct("inventory.customers.Key").Field("id", stream.Int32Schema()).MustBuild()
	k, _ := stream.NewStructValue(key)
	_ = k.Put("id", int32(1001))

	var codec stream.JSONSchemaCodec
	data, err := codec.Encode(key, k)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(data))

	schema, v, err := codec.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(schema.Name, v, schema.Equal(key))
	// Output:
	// {"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"inventory.customers.Key"},"payload":{"id":1001}}
	// inventory.customers.Key Struct{id=1001} true
}

func ExampleLookupCodec() {
	codec, err := stream.LookupCodec("json")
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _ := codec.Encode(nil, map[string]any{"b": []any{int64(1), 2.5, true}, "a": nil})
	fmt.Println(string(data))

	_, err = stream.LookupCodec("avro")
	fmt.Println(errors.Is(err, stream.ErrUnknownCodec), err)
	// Output:
	// {"a":null,"b":[1,2.5,true]}
	// true stream: unknown codec "avro" (registered: bytes, json, json-schema, string)
}

func ExampleSchema_Validate() {
	address := stream.NewStruct("Address").Field("zip", stream.Int32Schema()).MustBuild()
	customer := stream.NewStruct("Customer").Field("address", address).MustBuild()

	addr, _ := stream.NewStructValue(address)
	c, _ := stream.NewStructValue(customer)
	fmt.Println(c.Put("address", addr)) // addr has no zip yet: Put checks nested values too
	fmt.Println(customer.Validate(c))
	fmt.Println(stream.ArrayOf(stream.StringSchema()).Validate([]any{"a", 2}))
	// Output:
	// stream: schema mismatch: field "address.zip": nil value for required int32
	// stream: schema mismatch: field "address": nil value for required struct Address
	// stream: schema mismatch: field "[1]": expected string, got Go int
}

func ExampleParseDecimal() {
	d, err := stream.ParseDecimal("-1234.5600")
	fmt.Println(d, d.Unscaled, d.Scale, err)
	d2, _ := d.Rescale(2)
	fmt.Println(d2, d.Equal(d2), d.Cmp(d2))
	// Output:
	// -1234.5600 -12345600 4 <nil>
	// -1234.56 false 0
}

func ExampleJSONCodec() {
	var codec stream.JSONCodec
	_, v, err := codec.Decode([]byte(`{"id": 7, "price": 9.5, "tags": ["a"], "gone": null}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	m := v.(map[string]any)
	fmt.Printf("%T %T %T %v\n", m["id"], m["price"], m["tags"], m["gone"])

	data, _ := codec.Encode(stream.DecimalSchema(2), stream.NewDecimal(150, 2))
	fmt.Println(string(data))
	// Output:
	// int64 stream.Decimal []interface {} <nil>
	// 1.50
}
