package stream

// Codec turns a key or value of the data model into bytes on Kafka and back.
//
// Encode must accept every value its Decode returns. A nil value encodes to nil bytes (a Kafka null, so a
// tombstone stays a tombstone) and nil bytes decode to a nil schema and value.
//
// The JSON codecs follow Kafka Connect's JsonConverter for a nil value that has a schema: they write the
// schema's default, or JSON null ("json") or an envelope with a null payload ("json-schema") when the
// schema is optional, and fail when it is required. So a tombstone must be encoded with a nil schema, as
// Debezium's are.
type Codec interface {
	// Name is the codec's registered name ("json", "json-schema", "string", "bytes").
	Name() string
	// Encode serialises v, described by schema (nil when schemaless).
	Encode(schema *Schema, v any) ([]byte, error)
	// Decode parses data. Codecs that carry no schema return a nil Schema.
	Decode(data []byte) (*Schema, any, error)
}
