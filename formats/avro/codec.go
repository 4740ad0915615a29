package avro

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// Name is the codec's registered name.
const Name = "avro"

// RegistryTimeout bounds each call to the schema registry.
const RegistryTimeout = 10 * time.Second

// magicByte starts every message of Confluent's wire format, followed by the 4-byte big-endian schema id.
const magicByte = 0

func init() {
	if err := stream.RegisterCodec(Codec{}); err != nil {
		panic(err)
	}
}

// Codec is the avro codec as registered: a stream.TopicCodec whose ForTopic binds it to a topic's keys or
// values and to the pipeline's schema registry. Unbound, its Encode and Decode fail.
type Codec struct{}

var _ stream.TopicCodec = Codec{}

// Name returns "avro".
func (Codec) Name() string { return Name }

// Encode fails: the avro codec must be bound to a topic with ForTopic.
func (Codec) Encode(*stream.Schema, any) ([]byte, error) {
	return nil, errors.New("the avro codec is bound to a topic and a schema registry; use ForTopic")
}

// Decode fails: the avro codec must be bound to a topic with ForTopic.
func (Codec) Decode([]byte) (*stream.Schema, any, error) {
	return nil, nil, errors.New("the avro codec is bound to a topic and a schema registry; use ForTopic")
}

// ForTopic returns the codec of b.Topic's keys (b.Key) or values, registering schemas in b.Registry under
// the subject that b.SubjectNames names. It fails when the binding has no registry or an unknown strategy.
func (Codec) ForTopic(b stream.TopicBinding) (stream.Codec, error) {
	if b.Registry == nil {
		return nil, errors.New("the avro codec needs a schema registry, and the pipeline has none")
	}
	switch b.SubjectNames {
	case "", stream.SubjectTopicName, stream.SubjectRecordName, stream.SubjectTopicRecordName:
	default:
		return nil, fmt.Errorf("unknown subject name strategy %q (want %q, %q or %q)", b.SubjectNames, stream.SubjectTopicName, stream.SubjectRecordName, stream.SubjectTopicRecordName)
	}
	return &TopicCodec{binding: b, bySchema: make(map[*stream.Schema]*writerSchema),
		byText: make(map[string]*writerSchema), byID: make(map[int]*node)}, nil
}

// TopicCodec is the avro codec bound to one topic's keys or values. It writes Confluent's wire format: byte
// 0, the schema's registry id in 4 big-endian bytes, then the Avro binary encoding. Each distinct schema is
// registered once (one registry round trip), each writer schema id fetched once. Safe for concurrent use.
type TopicCodec struct {
	binding stream.TopicBinding

	mu       sync.Mutex
	bySchema map[*stream.Schema]*writerSchema // fast path: schemas are immutable once built
	byText   map[string]*writerSchema         // Avro JSON -> registered schema
	byID     map[int]*node                    // writer schemas read
}

// writerSchema is a schema registered under the codec's subject.
type writerSchema struct {
	node   *node
	id     int
	header [5]byte
}

// cacheLimit bounds each cache: a pipeline that builds a new schema value per record still hits byText.
const cacheLimit = 4096

// Name returns "avro".
func (c *TopicCodec) Name() string { return Name }

// Encode validates v against schema, registers the schema's Avro form under the topic's subject (once per
// schema: the writer's own text for a schema that a TopicCodec's Decode returned, else SchemaFor's), and
// returns Confluent's wire format. A nil v encodes to nil (a tombstone). A value that does not
// match its schema fails and is never written; so does a schema the subject's compatibility rule refuses,
// with an error wrapping stream.ErrIncompatibleSchema that names the subject and keeps the registry's
// words (field and rule).
func (c *TopicCodec) Encode(schema *stream.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if schema == nil {
		return nil, fmt.Errorf("the avro codec needs a schema; schemaless values (%s) cannot be written as Avro: declare the value's schema or use the json codec",
			stream.TypeName(v))
	}
	if err := schema.Validate(v); err != nil {
		return nil, err
	}
	ws, err := c.writerSchema(schema)
	if err != nil {
		return nil, err
	}
	w := writer{buf: make([]byte, 5, 64)}
	copy(w.buf, ws.header[:])
	if err := w.encode(ws.node, v); err != nil {
		return nil, fmt.Errorf("avro: %w", err)
	}
	return w.buf, nil
}

func (c *TopicCodec) writerSchema(schema *stream.Schema) (*writerSchema, error) {
	c.mu.Lock()
	ws := c.bySchema[schema]
	c.mu.Unlock()
	if ws != nil {
		return ws, nil
	}
	text, ok := writtenAs(schema)
	if !ok {
		var err error
		if text, err = SchemaFor(schema); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	ws = c.byText[text]
	c.mu.Unlock()
	if ws == nil {
		n, err := cachedNode(text)
		if err != nil {
			return nil, err
		}
		subject := c.subject(n)
		ctx, cancel := context.WithTimeout(context.Background(), RegistryTimeout)
		id, err := c.binding.Registry.Register(ctx, subject, stream.RegisteredSchema{Type: "AVRO", Schema: text})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("registering the schema under subject %q: %w", subject, err)
		}
		if id < 0 || id > 1<<31-1 {
			return nil, fmt.Errorf("the registry gave subject %q schema id %d, which the wire format cannot carry", subject, id)
		}
		ws = &writerSchema{node: n, id: id}
		binary.BigEndian.PutUint32(ws.header[1:], uint32(id))
	}
	c.mu.Lock()
	if len(c.byText) >= cacheLimit {
		clear(c.byText)
	}
	if len(c.bySchema) >= cacheLimit {
		clear(c.bySchema)
	}
	c.byText[text] = ws
	c.bySchema[schema] = ws
	c.mu.Unlock()
	return ws, nil
}

// subject names the registry subject of a schema by the binding's strategy.
func (c *TopicCodec) subject(n *node) string {
	suffix := "-value"
	if c.binding.Key {
		suffix = "-key"
	}
	switch c.binding.SubjectNames {
	case stream.SubjectRecordName:
		return recordName(n)
	case stream.SubjectTopicRecordName:
		return c.binding.Topic + "-" + recordName(n)
	}
	return c.binding.Topic + suffix
}

// recordName is the full name of the Avro schema's record (Confluent's RecordNameStrategy), or of its
// primitive type for a schema that is not a record.
func recordName(n *node) string {
	for n.kind == kUnion && !n.unionStruct {
		for i, b := range n.branches {
			if i != n.nullIndex {
				n = b
				break
			}
		}
	}
	switch n.kind {
	case kRecord:
		if n.schema.Name == "" {
			return connectNamespace + "." + connectDefaultName
		}
		name, ns, _ := avroName(n.schema.Name)
		if ns == "" {
			return name
		}
		return ns + "." + name
	case kEnum, kFixed:
		return n.schema.Name
	case kMapEntries:
		return "array"
	}
	return n.kindName()
}

// Decode reads Confluent's wire format: it checks the magic byte, fetches the writer schema by its id (once
// per id) and returns the schema of the data model it maps to with the value. Nil data decodes to a nil
// schema and value.
func (c *TopicCodec) Decode(data []byte) (*stream.Schema, any, error) {
	if data == nil {
		return nil, nil, nil
	}
	if len(data) < 5 {
		return nil, nil, fmt.Errorf("avro: %d bytes are too short for Confluent's wire format (magic byte 0 and a 4-byte schema id)", len(data))
	}
	if data[0] != magicByte {
		return nil, nil, fmt.Errorf("avro: first byte is %d, not Confluent's magic byte 0: not written by an Avro serializer with a schema registry", data[0])
	}
	id := int(binary.BigEndian.Uint32(data[1:5]))
	n, err := c.readerNode(id)
	if err != nil {
		return nil, nil, err
	}
	r := reader{data: data[5:], budget: len(data) + 1<<20}
	v, err := r.decode(n)
	if err != nil {
		return nil, nil, fmt.Errorf("avro: schema id %d: %w", id, err)
	}
	if r.pos != len(r.data) {
		return nil, nil, fmt.Errorf("avro: schema id %d: %d bytes left after the value", id, len(r.data)-r.pos)
	}
	return n.schema, v, nil
}

func (c *TopicCodec) readerNode(id int) (*node, error) {
	c.mu.Lock()
	n := c.byID[id]
	c.mu.Unlock()
	if n != nil {
		return n, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), RegistryTimeout)
	rs, err := c.binding.Registry.SchemaByID(ctx, id)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("avro: fetching writer schema id %d: %w", id, err)
	}
	if rs.Type != "" && rs.Type != "AVRO" {
		return nil, fmt.Errorf("avro: schema id %d is a %s schema, not Avro", id, rs.Type)
	}
	n, err = cachedNode(rs.Schema)
	if err != nil {
		return nil, fmt.Errorf("avro: writer schema id %d: %w", id, err)
	}
	c.mu.Lock()
	if len(c.byID) >= cacheLimit {
		clear(c.byID)
	}
	c.byID[id] = n
	c.mu.Unlock()
	return n, nil
}

// nodes caches bound schemas by their Avro JSON, shared by every topic codec (nodes are immutable), and
// remembers the Avro JSON each node's stream schema came from.
var nodes struct {
	sync.Mutex
	m     map[string]*node
	texts map[*stream.Schema]string
}

// writtenAs returns the Avro JSON that schema was decoded from (a writer schema a TopicCodec read, by any
// topic codec of the process), if it was. Encoding that same *stream.Schema (schemas are immutable and
// shared) writes the writer's own schema text again, so that a record read from one Avro topic and written
// to another keeps its schema and its id instead of registering SchemaFor's mapping of it (which adds
// connect.* properties and spells types its own way). A schema a stage built or changed is another pointer
// and is written with SchemaFor.
func writtenAs(schema *stream.Schema) (string, bool) {
	nodes.Lock()
	defer nodes.Unlock()
	text, ok := nodes.texts[schema]
	return text, ok
}

func cachedNode(text string) (*node, error) {
	nodes.Lock()
	n := nodes.m[text]
	nodes.Unlock()
	if n != nil {
		return n, nil
	}
	n, err := parseNode(text)
	if err != nil {
		return nil, err
	}
	nodes.Lock()
	if nodes.m == nil || len(nodes.m) >= cacheLimit {
		nodes.m = make(map[string]*node)
		nodes.texts = make(map[*stream.Schema]string)
	}
	if prev := nodes.m[text]; prev != nil { // parsed meanwhile by another goroutine: keep one node per text
		n = prev
	}
	nodes.m[text] = n
	nodes.texts[n.schema] = text
	nodes.Unlock()
	return n, nil
}
