package esserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Aggregations: a search's "aggs" (or "aggregations") are computed over every document the query matches,
// from the values the documents were indexed with (the same values search and sort see), after the hits.
// Supported: the bucket aggregations terms, range and date_histogram, which take sub-aggregations, and the
// metrics avg, sum, min, max, stats, cardinality and value_count. Responses have Elasticsearch's shapes
// for a single shard: terms' doc_count_error_upper_bound is always 0 and cardinality is exact.

// aggregation is one parsed aggregation of a search request.
type aggregation struct {
	name  string
	kind  string          // "terms", "range", "date_histogram", "avg", ...
	field string          // the field path
	fm    *fieldMapping   // the field's mapping; nil when no index maps the field (Elasticsearch's "unmapped")
	meta  json.RawMessage // echoed as "meta"
	subs  []*aggregation

	// terms
	size        int
	minDocCount int
	order       []aggOrder
	// range
	ranges []aggRange
	keyed  bool
	// date_histogram: calendar is a unit ("minute" ... "year"), fixed a duration; format renders keys
	calendar string
	fixed    time.Duration
	format   string
}

// aggOrder is one criterion of a bucket order: "_count", "_key" or the name of a single-value metric
// sub-aggregation.
type aggOrder struct {
	by   string
	desc bool
}

// aggRange is one range of a range aggregation: from inclusive, to exclusive, nil for unbounded.
type aggRange struct {
	key      string
	from, to *float64
}

// aggKinds lists the aggregation types esserver implements; bucketKinds those that take sub-aggregations.
var (
	aggKinds    = []string{"avg", "cardinality", "date_histogram", "max", "min", "range", "stats", "sum", "terms", "value_count"}
	bucketKinds = []string{"date_histogram", "range", "terms"}
)

// parseAggs reads a request's "aggs" or "aggregations" (nil when it has neither), resolving fields against
// the mappings of qc.
func parseAggs(qc *queryCompiler, aggs, aggregations json.RawMessage) ([]*aggregation, *esError) {
	raw := bytes.TrimSpace(aggs)
	if len(bytes.TrimSpace(aggregations)) > 0 {
		if len(raw) > 0 {
			return nil, errParsing("Found two aggregation definitions: [aggs] and [aggregations]")
		}
		raw = bytes.TrimSpace(aggregations)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	return parseAggObject(qc, raw)
}

func parseAggObject(qc *queryCompiler, raw json.RawMessage) ([]*aggregation, *esError) {
	var defs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &defs); err != nil {
		return nil, errParsing("Expected [START_OBJECT] under [aggs], but got %s", jsonTokenKind(raw))
	}
	var out []*aggregation
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		a, e := parseAgg(qc, name, defs[name])
		if e != nil {
			return nil, e
		}
		out = append(out, a)
	}
	return out, nil
}

func parseAgg(qc *queryCompiler, name string, raw json.RawMessage) (*aggregation, *esError) {
	var def map[string]json.RawMessage
	if err := json.Unmarshal(raw, &def); err != nil {
		return nil, errParsing("Expected [START_OBJECT] under [%s], but got a %s in [%s]", name, jsonTokenKind(raw), name)
	}
	a := &aggregation{name: name}
	var body, subs json.RawMessage
	for _, k := range slices.Sorted(maps.Keys(def)) {
		switch k {
		case "aggs", "aggregations":
			if subs != nil {
				return nil, errParsing("Found two sub aggregation definitions under [%s]", name)
			}
			subs = def[k]
		case "meta":
			a.meta = def[k]
		default:
			if a.kind != "" {
				return nil, errParsing("Found two aggregation type definitions in [%s]: [%s] and [%s]", name, a.kind, k)
			}
			if !slices.Contains(aggKinds, k) {
				return nil, errParsing("Unknown aggregation type [%s] in [%s]: this server supports %s", k, name, strings.Join(aggKinds, ", "))
			}
			a.kind, body = k, def[k]
		}
	}
	if a.kind == "" {
		return nil, errParsing("Missing definition for aggregation [%s]", name)
	}
	if e := a.parseBody(qc, body); e != nil {
		return nil, e
	}
	if subs != nil {
		if !slices.Contains(bucketKinds, a.kind) {
			// 500, as Elasticsearch answers this (AggregationInitializationException has no status of its own).
			return nil, newError(http.StatusInternalServerError, "aggregation_initialization_exception",
				fmt.Sprintf("Aggregator [%s] of type [%s] cannot accept sub-aggregations", name, a.kind))
		}
		var e *esError
		if a.subs, e = parseAggObject(qc, subs); e != nil {
			return nil, e
		}
	}
	for _, o := range a.order {
		if o.by == "_count" || o.by == "_key" {
			continue
		}
		i := slices.IndexFunc(a.subs, func(s *aggregation) bool { return s.name == o.by })
		if i < 0 || !a.subs[i].singleValue() {
			return nil, newError(http.StatusBadRequest, "aggregation_execution_exception",
				fmt.Sprintf("Invalid aggregation order path [%s]. The provided aggregation [%s] either does not exist, or is a "+
					"pipeline aggregation and cannot be used to sort the buckets.", o.by, o.by))
		}
	}
	return a, nil
}

// jsonTokenKind names the first JSON token of raw as Elasticsearch's parse errors do ("[START_ARRAY]").
func jsonTokenKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "[VALUE_NULL]"
	}
	switch raw[0] {
	case '{':
		return "[START_OBJECT]"
	case '[':
		return "[START_ARRAY]"
	case '"':
		return "[VALUE_STRING]"
	case 't', 'f':
		return "[VALUE_BOOLEAN]"
	case 'n':
		return "[VALUE_NULL]"
	}
	return "[VALUE_NUMBER]"
}

// singleValue reports whether the aggregation is a metric with one "value" (usable in a bucket order).
func (a *aggregation) singleValue() bool {
	switch a.kind {
	case "avg", "sum", "min", "max", "cardinality", "value_count":
		return true
	}
	return false
}

// aggParams is the union of the parameters of the supported aggregations.
type aggParams struct {
	Field       string          `json:"field"`
	Size        *int            `json:"size"`
	ShardSize   *int            `json:"shard_size"`
	MinDocCount *int            `json:"min_doc_count"`
	Order       json.RawMessage `json:"order"`
	Ranges      []struct {
		Key  string   `json:"key"`
		From *float64 `json:"from"`
		To   *float64 `json:"to"`
	} `json:"ranges"`
	Keyed              bool   `json:"keyed"`
	CalendarInterval   string `json:"calendar_interval"`
	FixedInterval      string `json:"fixed_interval"`
	Format             string `json:"format"`
	TimeZone           string `json:"time_zone"`
	PrecisionThreshold *int   `json:"precision_threshold"`
}

// aggParamNames lists the parameters each kind accepts; anything else is refused, as Elasticsearch refuses
// an unknown field (and as an unsupported one would silently change the answer).
var aggParamNames = map[string][]string{
	"terms":          {"field", "size", "shard_size", "min_doc_count", "order"},
	"range":          {"field", "ranges", "keyed"},
	"date_histogram": {"field", "calendar_interval", "fixed_interval", "format", "min_doc_count", "order", "time_zone", "keyed"},
	"avg":            {"field"},
	"sum":            {"field"},
	"min":            {"field"},
	"max":            {"field"},
	"stats":          {"field"},
	"value_count":    {"field"},
	"cardinality":    {"field", "precision_threshold"},
}

func (a *aggregation) parseBody(qc *queryCompiler, body json.RawMessage) *esError {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return errParsing("[%s] aggregation [%s]: expected an object, got %s", a.kind, a.name, jsonTokenKind(body))
	}
	for k := range fields {
		if !slices.Contains(aggParamNames[a.kind], k) {
			return errParsing("[%s] unknown field [%s] in aggregation [%s] (this server supports %s)",
				a.kind, k, a.name, strings.Join(aggParamNames[a.kind], ", "))
		}
	}
	var p aggParams
	if err := json.Unmarshal(body, &p); err != nil {
		return errParsing("[%s] aggregation [%s]: %v", a.kind, a.name, err)
	}
	if p.Field == "" {
		return errIllegalArgument("Required [field] in aggregation [%s] of type [%s]", a.name, a.kind)
	}
	a.field = p.Field
	a.fm = qc.field(p.Field)
	if e := a.checkFieldType(); e != nil {
		return e
	}
	switch a.kind {
	case "terms":
		a.size, a.minDocCount = 10, 1
		if p.Size != nil {
			a.size = *p.Size
		}
		if a.size < 1 {
			return errIllegalArgument("[size] must be greater than 0. Found [%d] in [%s]", a.size, a.name)
		}
		if p.MinDocCount != nil {
			a.minDocCount = *p.MinDocCount
		}
		if a.minDocCount < 1 {
			return errIllegalArgument("terms aggregation [%s]: min_doc_count below 1 is not supported by this server", a.name)
		}
		a.order = []aggOrder{{by: "_count", desc: true}}
	case "range":
		if len(p.Ranges) == 0 {
			return errIllegalArgument("No [ranges] specified for the [%s] aggregation", a.name)
		}
		for _, r := range p.Ranges {
			a.ranges = append(a.ranges, aggRange{key: r.Key, from: r.From, to: r.To})
		}
		// Elasticsearch answers the ranges sorted by from, then to (unbounded first).
		sort.SliceStable(a.ranges, func(i, j int) bool {
			fi, fj := bound(a.ranges[i].from, math.Inf(-1)), bound(a.ranges[j].from, math.Inf(-1))
			if fi != fj {
				return fi < fj
			}
			return bound(a.ranges[i].to, math.Inf(1)) < bound(a.ranges[j].to, math.Inf(1))
		})
		a.keyed = p.Keyed
	case "date_histogram":
		if e := a.parseInterval(qc, p.CalendarInterval, p.FixedInterval); e != nil {
			return e
		}
		switch p.TimeZone {
		case "", "UTC", "Z", "+00:00", "Etc/UTC", "GMT":
		default:
			return errIllegalArgument("date_histogram [%s]: time_zone [%s] is not supported by this server (UTC only)", a.name, p.TimeZone)
		}
		if p.MinDocCount != nil {
			a.minDocCount = *p.MinDocCount
		}
		a.format = p.Format
		a.keyed = p.Keyed
		a.order = []aggOrder{{by: "_key"}}
	}
	if len(bytes.TrimSpace(p.Order)) > 0 {
		order, e := parseAggOrder(a.name, p.Order)
		if e != nil {
			return e
		}
		a.order = order
	}
	return nil
}

func bound(p *float64, dflt float64) float64 {
	if p == nil {
		return dflt
	}
	return *p
}

// checkFieldType refuses the fields Elasticsearch refuses for the aggregation.
func (a *aggregation) checkFieldType() *esError {
	if a.fm == nil {
		return nil
	}
	fam := a.fm.family()
	if fam == "text" {
		return errIllegalArgument("Text fields are not optimised for operations that require per-document field data "+
			"like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. "+
			"Alternatively, set fielddata=true on [%s] in order to load field data by uninverting the inverted index. "+
			"Note that this can use significant memory.", a.field)
	}
	var ok bool
	switch a.kind {
	case "terms", "cardinality", "value_count":
		ok = fam != "binary"
	case "range":
		ok = fam == "integer" || fam == "float"
	case "date_histogram":
		ok = fam == "date"
	default: // numeric metrics
		ok = fam == "integer" || fam == "float" || fam == "date" || fam == "boolean"
	}
	if !ok {
		return errIllegalArgument("Field [%s] of type [%s] is not supported for aggregation [%s]", a.field, a.fm.Type, a.kind)
	}
	return nil
}

var calendarUnits = map[string]string{
	"1m": "minute", "minute": "minute", "1h": "hour", "hour": "hour", "1d": "day", "day": "day",
	"1w": "week", "week": "week", "1M": "month", "month": "month", "1q": "quarter", "quarter": "quarter",
	"1y": "year", "year": "year",
}

// parseInterval reads calendar_interval or fixed_interval. A value that is not an interval fails as
// Elasticsearch's parser fails it: x_content_parse_exception at the value, caused by the reason.
func (a *aggregation) parseInterval(qc *queryCompiler, calendar, fixed string) *esError {
	fieldError := func(field string, cause *esError) *esError {
		return newError(http.StatusBadRequest, "x_content_parse_exception",
			fmt.Sprintf("[%s] [date_histogram] failed to parse field [%s]", valueLocation(qc.body, field), field)).withCause(cause)
	}
	switch {
	case calendar != "" && fixed != "":
		return errIllegalArgument("Cannot use [fixed_interval] with [calendar_interval] configuration option.")
	case calendar != "":
		unit, ok := calendarUnits[calendar]
		if !ok {
			return fieldError("calendar_interval", errIllegalArgument("The supplied interval [%s] could not be parsed as a calendar interval.", calendar))
		}
		a.calendar = unit
	case fixed != "":
		d, ok := parseFixedInterval(fixed)
		if !ok {
			return fieldError("fixed_interval", errIllegalArgument("failed to parse setting [date_histogram.fixedInterval] with value [%s] "+
				"as a time value: unit is missing or unrecognized", fixed))
		}
		a.fixed = d
	default:
		return errIllegalArgument("Invalid interval specified, must be non-null and non-empty")
	}
	return nil
}

// valueLocation is the line:column of the value of the first "key": in body (1:1 when absent).
func valueLocation(body []byte, key string) string {
	i := bytes.Index(body, []byte(`"`+key+`"`))
	if i < 0 {
		return "1:1"
	}
	i += len(key) + 2
	for i < len(body) && (body[i] == ':' || body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
		i++
	}
	line := 1 + bytes.Count(body[:i], []byte("\n"))
	col := i - bytes.LastIndexByte(body[:i], '\n')
	return fmt.Sprintf("%d:%d", line, col)
}

// parseFixedInterval reads a fixed interval: a positive integer and one of the units ms, s, m, h, d.
func parseFixedInterval(s string) (time.Duration, bool) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 {
				return 0, false
			}
			return time.Duration(n) * u.unit, true
		}
	}
	return 0, false
}

// parseAggOrder reads {"_count":"desc"}, {"_key":"asc"}, {"metric":"desc"} or an array of them.
func parseAggOrder(name string, raw json.RawMessage) ([]aggOrder, *esError) {
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, errParsing("[order] of aggregation [%s]: %v", name, err)
		}
	} else {
		items = []json.RawMessage{raw}
	}
	var out []aggOrder
	for _, item := range items {
		var obj map[string]string
		if err := json.Unmarshal(item, &obj); err != nil || len(obj) != 1 {
			return nil, errParsing("[order] of aggregation [%s] must be an object with one key, such as {\"_count\": \"desc\"}", name)
		}
		for by, dir := range obj {
			if dir != "asc" && dir != "desc" {
				return nil, errParsing("Unknown order direction [%s] in aggregation [%s]", dir, name)
			}
			if by == "_term" {
				by = "_key"
			}
			out = append(out, aggOrder{by: by, desc: dir == "desc"})
		}
	}
	return out, nil
}
