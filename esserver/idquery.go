package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2/search/query"
)

// idsQuery matches documents by id. Elasticsearch takes numbers as ids too ({"values": [1, 2]}).
func idsQuery(values []any) query.Query {
	ids := make([]string, 0, len(values))
	for _, v := range values {
		ids = append(ids, scalarText(v))
	}
	return query.NewDocIDQuery(ids)
}

// idFieldQuery compiles term, terms, match and prefix queries on the _id metadata field, which
// Elasticsearch serves from the id itself (IdFieldMapper): term, terms and match are an ids query,
// prefix a prefix of the id. range on _id is refused as Elasticsearch 8 refuses it without
// indices.id_field_data.enabled.
func (c *queryCompiler) idFieldQuery(typ string, spec json.RawMessage) (query.Query, *esError) {
	var value any
	if bytes.HasPrefix(bytes.TrimSpace(spec), []byte("{")) {
		var opts map[string]any
		if err := decodeNumber(spec, &opts); err != nil {
			return nil, c.parsingError(err.Error(), typ)
		}
		value = opts["value"]
		if typ == "match" || typ == "match_phrase" {
			value = opts["query"]
		}
	} else if err := decodeNumber(spec, &value); err != nil {
		return nil, c.parsingError(err.Error(), typ)
	}
	switch typ {
	case "terms":
		list, ok := value.([]any)
		if !ok {
			return nil, c.parsingError("[terms] query does not support [_id]", typ)
		}
		return idsQuery(list), nil
	case "term", "match", "match_phrase":
		if value == nil {
			return nil, c.parsingError(fmt.Sprintf("[%s] requires query value", typ), typ)
		}
		return idsQuery([]any{value}), nil
	case "prefix":
		// bleve has no prefix query on ids; compile to the ids of no document when empty, else a
		// regexp-free scan is not available: refuse clearly.
		if s := scalarText(value); strings.TrimSpace(s) == "" {
			return query.NewMatchNoneQuery(), nil
		}
		return nil, errIllegalArgument("esserver does not support [prefix] queries on [_id]")
	}
	return nil, queryShardError(fmt.Sprintf("Field [_id] of type [_id] does not support %s queries", typ))
}
