package esserver

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// searchAfterValue turns one search_after value into the string bleve's search-after takes for that sort
// key: ids and keywords as they are, numbers as decimal text, dates as RFC 3339 (from epoch milliseconds,
// nanoseconds for date_nanos, or a string in the field's format, as Elasticsearch accepts them), scores as
// decimal text.
func searchAfterValue(k sortKey, v any) (string, *esError) {
	bad := func() (string, *esError) {
		return "", errIllegalArgument("search_after value [%v] does not fit the sort on [%s]", v, k.field)
	}
	num := func() (float64, bool) {
		switch t := v.(type) {
		case float64:
			return t, true
		case json.Number:
			f, err := t.Float64()
			return f, err == nil
		case string:
			f, err := strconv.ParseFloat(t, 64)
			return f, err == nil
		}
		return 0, false
	}
	switch {
	case k.field == "_id" || k.field == "_doc" || k.family == "keyword":
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		return s, nil
	case k.field == "_score" || k.family == "integer" || k.family == "float" || k.family == "boolean":
		f, ok := num()
		if !ok || math.IsNaN(f) {
			return bad()
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case k.family == "date":
		var t time.Time
		if f, ok := v.(float64); ok {
			if k.typ == "date_nanos" {
				t = time.Unix(0, int64(f)).UTC()
			} else {
				t = time.UnixMilli(int64(f)).UTC()
			}
		} else if s, ok := v.(string); ok {
			parsed, ok := parseDate(s, k.format)
			if !ok {
				return "", newError(400, "parse_exception",
					fmt.Sprintf("failed to parse date field [%s] with format [%s]", s, orDefault(k.format)))
			}
			t = parsed
		} else {
			return bad()
		}
		return t.Format(time.RFC3339Nano), nil
	}
	return "", errIllegalArgument("search_after is not supported after sort values of [%s] (this server)", k.field)
}
