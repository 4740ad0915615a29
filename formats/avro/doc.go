// Package avro is the "avro" codec: keys and values in Avro, in Confluent's wire format (byte 0, the
// schema's 4-byte big-endian registry id, the Avro binary encoding), with schemas registered in a
// Confluent-compatible schema registry, so that Confluent's serializers and deserializers (Java, Python,
// librdkafka-based) read what Sluice writes and the other way round.
//
// Importing the package registers the codec in stream's default codec registry as "avro". It is a
// stream.TopicCodec: the engine binds it to each topic with ForTopic, which needs the pipeline's schema
// registry. Encode validates each value against its schema before anything is written, registers each new
// schema once under the subject of the topic's strategy (topic: "<topic>-key"/"<topic>-value"; record: the
// Avro record's full name; topic-record: "<topic>-<full name>"), and refuses a schema the subject's
// compatibility rule refuses (the error wraps stream.ErrIncompatibleSchema). A nil value is a tombstone
// (nil bytes). Schemaless values cannot be written as Avro. A schema that Decode returned (the same
// *stream.Schema value) is written with the writer's own Avro schema text, so that records read from an Avro
// topic and written to another keep their schema and its id; any other schema is written as SchemaFor maps
// it. Errors do not name the topic: the engine adds it (with partition and offset where there are some).
//
// # Mapping
//
// Schemas map both ways as Confluent's AvroConverter (AvroData) maps them, so that Kafka Connect and Sluice
// agree; SchemaFor and StreamSchema expose the mapping:
//
//	Data model (stream.Schema)                 Avro schema
//	int8, int16                                int with "connect.type": "int8"/"int16"
//	int32, int64                               int, long
//	float, double, boolean, string, bytes      float, double, boolean, string, bytes
//	array                                      array
//	map with plain string keys                 map
//	map with other keys                        array of records io.confluent.connect.avro.MapEntry{key, value}
//	                                           (MapEntry2, ... for further ones in one schema)
//	struct named "a.b.C"                       record C in namespace a.b (characters Avro names do not
//	                                           allow become "_", the real name kept in "connect.name")
//	anonymous struct                           record io.confluent.connect.avro.ConnectDefault (2, 3, ...)
//	optional                                   union ["null", T] with default null; [T, "null"] when a
//	                                           field's default is not null (a default is of the first branch)
//	Default                                    the field's "default"; elsewhere "connect.default"
//	Doc                                        a record's "doc" (and a field's "doc"); elsewhere "connect.doc"
//	Name, Version, Parameters                  "connect.name", "connect.version", "connect.parameters"
//	Decimal (scale s)                          bytes, logicalType decimal, scale s, precision from the
//	                                           "connect.decimal.precision" parameter, else 64 (AvroData's
//	                                           default); plain bytes when s < 0 or s > precision
//	Date, Time                                 int, logicalType date, time-millis
//	Timestamp                                  long, logicalType timestamp-millis
//	int64 io.debezium.time.MicroTimestamp      long, logicalType timestamp-micros
//	int64 io.debezium.time.MicroTime           long, logicalType time-micros
//	string io.debezium.data.Uuid               string, logicalType uuid
//
// Avro schemas written by others map to the closest type, keeping in the schema's name and parameters
// ("avro.*" parameters, which are not written to connect.parameters) what writing them back needs:
//
//	Avro schema                                Data model
//	enum                                       string named after the enum; parameters avro.type=enum,
//	                                           avro.symbols (comma-separated), avro.enum.default
//	fixed                                      bytes named after the fixed; avro.type=fixed, avro.size
//	fixed with logicalType decimal             Decimal; avro.type, avro.size, avro.name
//	union of null and one type                 that type, optional
//	union of several types                     struct io.confluent.connect.avro.Union with one optional
//	                                           field per branch (named after the branch's type), optional
//	                                           when the union holds null; exactly one field is set
//	long local-timestamp-*, other logical      int64 with parameter avro.logicalType
//	types the data model lacks
//
// Values map as the table says, in the Go types of stream.Schema's table. A nil value where the schema has
// a default is written as the default, and a null read where the field has a default reads as the default,
// as Connect's Struct.get does.
//
// Not supported: recursive records, the null type outside a union, map keys of type bytes, array or map,
// struct field names that are not Avro names, NaN or infinite defaults, and properties other than the
// connect.* ones (they are dropped). Defaults given in connect.default are exact; numbers are never
// rounded through float64.
//
// The binary decoder checks every length against the bytes that are left and bounds the items of arrays and
// maps, so hostile input fails with an error naming the byte position instead of panicking or allocating.
package avro
