package stream

import (
	"context"
	"errors"
)

// TopicCodec is a Codec whose bytes depend on the topic it serves and on whether it carries keys or values,
// such as the Avro codec in Confluent's wire format, which registers each schema under a subject named after
// the topic. The engine calls ForTopic once for each declared topic that names the codec and uses the codec
// it returns for that topic's keys or values; the TopicCodec itself is only a factory (its Encode and Decode
// may fail for want of a topic).
type TopicCodec interface {
	Codec
	// ForTopic returns the codec for one topic's keys (b.Key) or values.
	ForTopic(b TopicBinding) (Codec, error)
}

// TopicBinding is what a TopicCodec learns about the topic it is bound to.
type TopicBinding struct {
	// Topic is the Kafka topic name.
	Topic string
	// Key is true for the codec of the topic's record keys, false for its values.
	Key bool
	// Registry is the pipeline's schema registry (embedded or external); nil when the pipeline has none.
	Registry SchemaRegistry
	// SubjectNames is the subject name strategy: SubjectTopicName (the default when empty),
	// SubjectRecordName or SubjectTopicRecordName, as in Confluent's serializers.
	SubjectNames string
}

// Subject name strategies of Confluent's serializers.
const (
	SubjectTopicName       = "topic"        // <topic>-key, <topic>-value
	SubjectRecordName      = "record"       // <record full name>
	SubjectTopicRecordName = "topic-record" // <topic>-<record full name>
)

// SchemaRegistry is what a codec needs of a Confluent-compatible schema registry. Package schemaregistry
// implements it for the embedded registry and for an external one. Implementations cache: the same schema
// registered twice under a subject costs one round trip.
type SchemaRegistry interface {
	// Register returns the id of schema under subject, adding a new version when the subject does not hold
	// it yet. It fails with an error wrapping ErrIncompatibleSchema, naming the field and the rule, when the
	// subject's compatibility rule refuses the schema.
	Register(ctx context.Context, subject string, schema RegisteredSchema) (int, error)
	// SchemaByID returns the schema registered with id.
	SchemaByID(ctx context.Context, id int) (RegisteredSchema, error)
}

// RegisteredSchema is a schema as a registry stores it.
type RegisteredSchema struct {
	// Type is the schema type as Confluent names it: "AVRO" (also when empty), "JSON" or "PROTOBUF".
	Type string
	// Schema is the schema's text (an Avro schema in its JSON form for AVRO).
	Schema string
}

// ErrIncompatibleSchema is wrapped by the error of a registration that the subject's compatibility rule
// (BACKWARD, FORWARD, FULL, their transitive forms) refused. No record with that schema enters Kafka.
var ErrIncompatibleSchema = errors.New("schema is incompatible with the subject's compatibility rule")
