package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
)

// queryCompiler translates the Elasticsearch query DSL into bleve queries, typing each leaf query by the
// field's mapping in the searched indices.
type queryCompiler struct {
	mappings []*fieldMapping
	body     []byte // the whole request body, for error locations
}

func (c *queryCompiler) field(path string) *fieldMapping {
	for _, m := range c.mappings {
		if fm := m.lookupPath(path); fm != nil && !fm.isObject() {
			return fm
		}
	}
	return nil
}

// supportedQueries lists the query types esserver implements.
var supportedQueries = []string{"bool", "exists", "ids", "match", "match_all", "match_none", "match_phrase",
	"prefix", "range", "term", "terms"}

func (c *queryCompiler) compile(raw json.RawMessage) (query.Query, *esError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 1 {
		return nil, c.parsingError("[_na] query malformed, must start with start_object", "")
	}
	for typ, body := range obj {
		switch typ {
		case "match_all":
			return query.NewMatchAllQuery(), nil
		case "match_none":
			return query.NewMatchNoneQuery(), nil
		case "bool":
			return c.boolQuery(body)
		case "ids":
			var b struct {
				Values []any `json:"values"`
			}
			if err := decodeNumber(body, &b); err != nil {
				return nil, c.parsingError("[ids] "+err.Error(), typ)
			}
			return idsQuery(b.Values), nil // idquery.go: numbers are ids too
		case "exists":
			var b struct {
				Field string `json:"field"`
			}
			if err := json.Unmarshal(body, &b); err != nil || b.Field == "" {
				return nil, c.parsingError("[exists] must be provided with a [field]", typ)
			}
			q := query.NewTermQuery(b.Field)
			q.SetField(fieldNamesField)
			return q, nil
		case "term", "match", "match_phrase", "prefix", "range", "terms":
			return c.fieldQuery(typ, body)
		default:
			return nil, c.parsingError(fmt.Sprintf("unknown query [%s]", typ), typ).
				withCause(newError(http.StatusBadRequest, "named_object_not_found_exception",
					fmt.Sprintf("[%s] unknown field [%s]", c.location(typ), typ)))
		}
	}
	return nil, nil
}

// location is the "line:col" of the first occurrence of a query name in the body, approximating the
// parser location Elasticsearch reports.
func (c *queryCompiler) location(name string) string {
	i := bytes.Index(c.body, []byte(`"`+name+`"`))
	if i < 0 {
		return "1:1"
	}
	line := 1 + bytes.Count(c.body[:i], []byte("\n"))
	col := i - bytes.LastIndexByte(c.body[:i], '\n')
	return fmt.Sprintf("%d:%d", line, col)
}

func (c *queryCompiler) parsingError(reason, name string) *esError {
	e := errParsing("%s", reason)
	if name != "" {
		loc := strings.Split(c.location(name), ":")
		line, _ := strconv.Atoi(loc[0])
		col, _ := strconv.Atoi(loc[1])
		e.with("line", line).with("col", col)
	}
	return e
}

func (c *queryCompiler) clauses(raw json.RawMessage) ([]query.Query, *esError) {
	if raw == nil {
		return nil, nil
	}
	var list []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, c.parsingError("[bool] "+err.Error(), "bool")
		}
	} else {
		list = []json.RawMessage{raw}
	}
	var out []query.Query
	for _, r := range list {
		q, e := c.compile(r)
		if e != nil {
			return nil, e
		}
		out = append(out, q)
	}
	return out, nil
}

func (c *queryCompiler) boolQuery(body json.RawMessage) (query.Query, *esError) {
	var b struct {
		Must, Filter, Should, MustNot json.RawMessage
		MinimumShouldMatch            any      `json:"minimum_should_match"`
		Boost                         *float64 `json:"boost"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, c.parsingError("[bool] "+err.Error(), "bool")
	}
	for k, v := range raw {
		switch k {
		case "must":
			b.Must = v
		case "filter":
			b.Filter = v
		case "should":
			b.Should = v
		case "must_not":
			b.MustNot = v
		case "minimum_should_match":
			_ = json.Unmarshal(v, &b.MinimumShouldMatch)
		case "boost", "_name", "adjust_pure_negative":
		default:
			return nil, c.parsingError(fmt.Sprintf("[bool] query does not support [%s]", k), "bool")
		}
	}
	must, e := c.clauses(b.Must)
	if e != nil {
		return nil, e
	}
	filter, e := c.clauses(b.Filter)
	if e != nil {
		return nil, e
	}
	should, e := c.clauses(b.Should)
	if e != nil {
		return nil, e
	}
	mustNot, e := c.clauses(b.MustNot)
	if e != nil {
		return nil, e
	}
	bq := query.NewBooleanQuery(must, nil, mustNot)
	if len(filter) > 0 {
		bq.AddFilter(query.NewConjunctionQuery(filter))
	}
	if len(should) > 0 {
		msm := minimumShouldMatch(b.MinimumShouldMatch, len(should))
		if msm == 0 && len(must) == 0 && len(filter) == 0 {
			msm = 1 // a bool with only should clauses needs one of them, as in Elasticsearch
		}
		if msm == 0 {
			// Optional clauses only add to the score: give bleve a required match-all to attach them to.
			if len(must) == 0 {
				bq.AddMust(query.NewMatchAllQuery())
			}
		}
		bq.AddShould(should...)
		bq.SetMinShould(float64(msm))
		if msm > len(should) {
			return query.NewMatchNoneQuery(), nil
		}
	}
	if len(must) == 0 && len(should) == 0 && len(filter) == 0 && len(mustNot) == 0 {
		return query.NewMatchAllQuery(), nil
	}
	return bq, nil
}

// minimumShouldMatch supports integers, negative integers and percentages.
func minimumShouldMatch(v any, n int) int {
	switch t := v.(type) {
	case float64:
		if t < 0 {
			return max(0, n+int(t))
		}
		return int(t)
	case string:
		if p, ok := strings.CutSuffix(t, "%"); ok {
			f, _ := strconv.ParseFloat(p, 64)
			k := int(math.Floor(float64(n) * math.Abs(f) / 100))
			if f < 0 {
				return n - k
			}
			return k
		}
		i, _ := strconv.Atoi(t)
		if i < 0 {
			return max(0, n+i)
		}
		return i
	}
	return 0
}

// fieldQuery compiles the queries of the form {"type":{"field": value-or-options}}.
func (c *queryCompiler) fieldQuery(typ string, body json.RawMessage) (query.Query, *esError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, c.parsingError(fmt.Sprintf("[%s] query malformed, no start_object after query name", typ), typ)
	}
	var field string
	var spec json.RawMessage
	for k, v := range obj {
		if k == "boost" || k == "_name" {
			continue
		}
		if field != "" {
			return nil, c.parsingError(fmt.Sprintf("[%s] query doesn't support multiple fields, found [%s] and [%s]", typ, field, k), typ)
		}
		field, spec = k, v
	}
	if field == "" {
		return nil, c.parsingError(fmt.Sprintf("[%s] query malformed, no field", typ), typ)
	}
	if field == "_id" {
		return c.idFieldQuery(typ, spec) // idquery.go
	}
	fm := c.field(field)
	switch typ {
	case "terms":
		var values []any
		if err := decodeNumber(spec, &values); err != nil {
			return nil, c.parsingError(fmt.Sprintf("[terms] query does not support [%s]", field), typ)
		}
		var qs []query.Query
		for _, v := range values {
			q, e := c.termQuery(field, fm, v)
			if e != nil {
				return nil, e
			}
			qs = append(qs, q)
		}
		return query.NewDisjunctionQuery(qs), nil
	case "range":
		return c.rangeQuery(field, fm, spec)
	}
	// term, match, match_phrase, prefix: a value or {"value"/"query": ..., options}.
	var opts map[string]any
	var value any
	if bytes.HasPrefix(bytes.TrimSpace(spec), []byte("{")) {
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
	if value == nil {
		return nil, c.parsingError(fmt.Sprintf("[%s] requires query value", typ), typ)
	}
	if fm == nil {
		return query.NewMatchNoneQuery(), nil // an unmapped field matches nothing
	}
	switch typ {
	case "term":
		return c.termQuery(field, fm, value)
	case "prefix":
		q := query.NewPrefixQuery(scalarText(value))
		q.SetField(field)
		return q, nil
	}
	if fm.family() != "text" {
		return c.termQuery(field, fm, value) // match on a non-text field is a term query
	}
	text := scalarText(value)
	if typ == "match_phrase" {
		q := query.NewMatchPhraseQuery(text)
		q.SetField(field)
		q.Analyzer = standardAnalyzer
		return q, nil
	}
	q := query.NewMatchQuery(text)
	q.SetField(field)
	q.Analyzer = standardAnalyzer
	if op, _ := opts["operator"].(string); strings.EqualFold(op, "and") {
		q.SetOperator(query.MatchQueryOperatorAnd)
	}
	return q, nil
}

func decodeNumber(raw json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

// termQuery matches one exact value, typed by the field's mapping.
func (c *queryCompiler) termQuery(field string, fm *fieldMapping, value any) (query.Query, *esError) {
	if fm == nil {
		return query.NewMatchNoneQuery(), nil
	}
	text := scalarText(value)
	switch fm.family() {
	case "integer", "float":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, queryShardError(fmt.Sprintf("failed to create query: For input string: \"%s\"", text))
		}
		incl := true
		q := query.NewNumericRangeInclusiveQuery(&f, &f, &incl, &incl)
		q.SetField(field)
		return q, nil
	case "boolean":
		q := query.NewBoolFieldQuery(text == "true")
		q.SetField(field)
		return q, nil
	case "date":
		t, ok := parseDate(text, fm.Format)
		if !ok {
			return nil, queryShardError(fmt.Sprintf("failed to create query: failed to parse date field [%s] with format [%s]", text, orDefault(fm.Format)))
		}
		incl := true
		q := query.NewDateRangeInclusiveQuery(t, t, &incl, &incl)
		q.SetField(field)
		return q, nil
	}
	q := query.NewTermQuery(text)
	q.SetField(field)
	return q, nil
}

func orDefault(format string) string {
	if format == "" {
		return defaultDateFormat
	}
	return format
}

func queryShardError(reason string) *esError {
	return newError(http.StatusBadRequest, "query_shard_exception", reason)
}

func (c *queryCompiler) rangeQuery(field string, fm *fieldMapping, spec json.RawMessage) (query.Query, *esError) {
	var opts map[string]any
	if err := decodeNumber(spec, &opts); err != nil {
		return nil, c.parsingError("[range] query malformed, no start_object after query name", "range")
	}
	if fm == nil {
		return query.NewMatchNoneQuery(), nil
	}
	type bound struct {
		v         any
		inclusive bool
	}
	var lo, hi *bound
	for k, v := range opts {
		switch k {
		case "gt":
			lo = &bound{v, false}
		case "gte", "from":
			lo = &bound{v, true}
		case "lt":
			hi = &bound{v, false}
		case "lte", "to":
			hi = &bound{v, true}
		case "format", "boost", "time_zone", "relation", "_name":
		default:
			return nil, c.parsingError(fmt.Sprintf("[range] query does not support [%s]", k), "range")
		}
	}
	incl := func(b *bound) *bool {
		if b == nil {
			return nil
		}
		return &b.inclusive
	}
	switch fm.family() {
	case "integer", "float", "boolean":
		num := func(b *bound) (*float64, *esError) {
			if b == nil || b.v == nil {
				return nil, nil
			}
			f, err := strconv.ParseFloat(scalarText(b.v), 64)
			if err != nil {
				return nil, queryShardError(fmt.Sprintf("failed to create query: For input string: \"%s\"", scalarText(b.v)))
			}
			return &f, nil
		}
		min, e := num(lo)
		if e != nil {
			return nil, e
		}
		max, e := num(hi)
		if e != nil {
			return nil, e
		}
		q := query.NewNumericRangeInclusiveQuery(min, max, incl(lo), incl(hi))
		q.SetField(field)
		return q, nil
	case "date":
		format, _ := opts["format"].(string)
		if format == "" {
			format = fm.Format
		}
		when := func(b *bound) (time.Time, *esError) {
			if b == nil || b.v == nil {
				return time.Time{}, nil
			}
			s := scalarText(b.v)
			if t, ok := dateMath(s); ok {
				return t, nil
			}
			f := format
			if _, isNum := b.v.(json.Number); isNum {
				f = "epoch_millis"
			}
			t, ok := parseDate(s, f)
			if !ok {
				return time.Time{}, newError(http.StatusBadRequest, "parse_exception",
					fmt.Sprintf("failed to parse date field [%s] with format [%s]", s, orDefault(f)))
			}
			if fm.Type == "date" {
				t = t.Truncate(time.Millisecond) // as the field's values
			}
			return t, nil
		}
		start, e := when(lo)
		if e != nil {
			return nil, e
		}
		end, e := when(hi)
		if e != nil {
			return nil, e
		}
		q := query.NewDateRangeInclusiveQuery(start, end, incl(lo), incl(hi))
		q.SetField(field)
		return q, nil
	}
	str := func(b *bound) string {
		if b == nil || b.v == nil {
			return ""
		}
		return scalarText(b.v)
	}
	q := query.NewTermRangeInclusiveQuery(str(lo), str(hi), incl(lo), incl(hi))
	q.SetField(field)
	return q, nil
}

var dateMathRe = regexp.MustCompile(`^now(?:([+-])(\d+)([smhdwMy]))?(?:/([smhdwMy]))?$`)

// dateMath evaluates the "now[+-N unit][/unit]" subset of Elasticsearch date math, in UTC.
func dateMath(s string) (time.Time, bool) {
	m := dateMathRe.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	t := time.Now().UTC()
	if m[1] != "" {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "-" {
			n = -n
		}
		switch m[3] {
		case "s":
			t = t.Add(time.Duration(n) * time.Second)
		case "m":
			t = t.Add(time.Duration(n) * time.Minute)
		case "h":
			t = t.Add(time.Duration(n) * time.Hour)
		case "d":
			t = t.AddDate(0, 0, n)
		case "w":
			t = t.AddDate(0, 0, 7*n)
		case "M":
			t = t.AddDate(0, n, 0)
		case "y":
			t = t.AddDate(n, 0, 0)
		}
	}
	switch m[4] {
	case "s":
		t = t.Truncate(time.Second)
	case "m":
		t = t.Truncate(time.Minute)
	case "h":
		t = t.Truncate(time.Hour)
	case "d":
		t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case "M":
		t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case "y":
		t = time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t, true
}
