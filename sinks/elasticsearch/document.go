package elasticsearch

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/stream"
)

// VersionHeader, when a record carries it (a decimal int64), is the document's external version. Sources
// that know a monotonic position (a binlog position, say) set it; otherwise the record's Kafka offset is the
// version, which only grows for a key, since a key stays on one partition.
const VersionHeader = "sluice.version"

// action is one bulk operation derived from a record.
type action struct {
	record  int // index of the record in the batch
	op      string
	index   string
	id      string
	version int64
	body    []byte // nil for deletes
}

// documentID makes the document id from a record key: strings and byte strings as they are, numbers in
// decimal, a struct (a primary key with several columns) as its field values in schema order joined by
// "+", a map as its values in key order joined by "+".
func documentID(key any) (string, error) {
	switch k := key.(type) {
	case nil:
		return "", errors.New("record has no key to make a document id from")
	case string:
		if k == "" {
			return "", errors.New("record key is empty")
		}
		return k, nil
	case []byte:
		if len(k) == 0 {
			return "", errors.New("record key is empty")
		}
		return string(k), nil
	case *stream.Struct:
		var parts []string
		for _, f := range k.Schema().Fields {
			p, err := documentID(k.Get(f.Name))
			if err != nil {
				return "", fmt.Errorf("key field %q: %w", f.Name, err)
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "+"), nil
	case map[string]any:
		names := make([]string, 0, len(k))
		for n := range k {
			names = append(names, n)
		}
		sort.Strings(names)
		var parts []string
		for _, n := range names {
			p, err := documentID(k[n])
			if err != nil {
				return "", fmt.Errorf("key field %q: %w", n, err)
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "+"), nil
	case stream.Decimal:
		return k.String(), nil
	case fmt.Stringer:
		return k.String(), nil
	default:
		return fmt.Sprint(k), nil
	}
}

// documentVersion is the record's external version: VersionHeader, or its Kafka offset.
func documentVersion(r *stream.Record) (int64, error) {
	if h, ok := r.Header(VersionHeader); ok {
		v, err := strconv.ParseInt(string(h), 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("header %s=%q is not a non-negative integer", VersionHeader, h)
		}
		return v, nil
	}
	return r.Offset, nil
}

// documentBody serialises the record's value as a JSON object: structured values through the "json"
// codec, strings and byte strings taken as JSON text.
func documentBody(codec stream.Codec, r *stream.Record) ([]byte, error) {
	var body []byte
	switch v := r.Value.(type) {
	case string:
		body = []byte(v)
	case []byte:
		body = v
	default:
		b, err := codec.Encode(r.ValueSchema, v)
		if err != nil {
			return nil, fmt.Errorf("encode value as JSON: %w", err)
		}
		body = b
	}
	trimmed := strings.TrimSpace(string(body))
	if !strings.HasPrefix(trimmed, "{") || !json.Valid(body) {
		return nil, fmt.Errorf("value is not a JSON object: %.80q", trimmed)
	}
	return body, nil
}
