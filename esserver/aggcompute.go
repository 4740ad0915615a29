package esserver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
)

// Computing the aggregations that aggs.go parses: buckets and metrics over the documents a search matched.

// aggregate runs the query over ixs without a hit limit and computes aggs over the matching documents.
// The caller holds s.mu for reading.
func aggregate(ctx context.Context, ixs []*index, q query.Query, aggs []*aggregation) (map[string]any, *esError) {
	var docs []*parsedDoc
	limit := 0
	for _, ix := range ixs {
		limit += ix.liveCount()
	}
	if limit > 0 {
		res, err := bleveSearch(ctx, ixs, q, 0, limit, nil, nil)
		if err != nil {
			return nil, newError(http.StatusBadRequest, "search_phase_execution_exception", err.Error())
		}
		byName := map[string]*index{}
		for _, ix := range ixs {
			byName[ix.name] = ix
		}
		for _, h := range res.Hits {
			ix := byName[h.Index]
			if ix == nil && len(ixs) == 1 {
				ix = ixs[0]
			}
			if ix == nil {
				continue
			}
			if sd := ix.searchable[h.ID]; sd != nil {
				docs = append(docs, sd.parsed)
			}
		}
	}
	return computeAggs(&aggRun{}, aggs, docs)
}

// maxBuckets is search.max_buckets' default in Elasticsearch 8: a response with more buckets (all
// aggregations and levels together) fails with too_many_buckets_exception.
const maxBuckets = 65536

// aggRun is the state of one search's aggregations: the buckets created so far.
type aggRun struct{ buckets int }

// add counts n more buckets, failing past maxBuckets.
func (run *aggRun) add(n int) *esError {
	run.buckets += n
	if run.buckets > maxBuckets {
		return newError(http.StatusBadRequest, "too_many_buckets_exception", fmt.Sprintf(
			"Trying to create too many buckets. Must be less than or equal to: [%d] but this number of buckets was exceeded. "+
				"This limit can be set by changing the [search.max_buckets] cluster level setting.", maxBuckets)).
			with("max_buckets", maxBuckets)
	}
	return nil
}

func computeAggs(run *aggRun, aggs []*aggregation, docs []*parsedDoc) (map[string]any, *esError) {
	out := make(map[string]any, len(aggs))
	for _, a := range aggs {
		r, e := a.compute(run, docs)
		if e != nil {
			return nil, e
		}
		if len(a.meta) > 0 {
			r["meta"] = a.meta
		}
		out[a.name] = r
	}
	return out, nil
}

// values returns the document's indexed values of the aggregation's field.
func (a *aggregation) values(d *parsedDoc) []indexedValue {
	var out []indexedValue
	for _, v := range d.Values {
		if v.Path == a.field {
			out = append(out, v)
		}
	}
	return out
}

func (a *aggregation) compute(run *aggRun, docs []*parsedDoc) (map[string]any, *esError) {
	switch a.kind {
	case "terms":
		return a.terms(run, docs)
	case "range":
		return a.rangeAgg(run, docs)
	case "date_histogram":
		return a.dateHistogram(run, docs)
	}
	return a.metric(docs), nil
}

// bucket is one bucket under construction: its key (as rendered), the value to order keys by, its docs.
type bucket struct {
	fields  map[string]any // key, key_as_string, from, to ...: everything but doc_count and sub-aggregations
	sortKey indexedValue
	docs    []*parsedDoc
	subs    map[string]any
}

func (b *bucket) render() map[string]any {
	out := make(map[string]any, len(b.fields)+1+len(b.subs))
	for k, v := range b.fields {
		out[k] = v
	}
	out["doc_count"] = len(b.docs)
	for k, v := range b.subs {
		out[k] = v
	}
	return out
}

// keyOf is the identity of a value for grouping.
func keyOf(v indexedValue) string {
	switch v.Family {
	case "integer", "float":
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case "date":
		return strconv.FormatInt(v.Time.UnixMilli(), 10)
	case "boolean":
		return strconv.FormatBool(v.Bool)
	}
	return v.Str
}

// keyFields renders a terms bucket's key as Elasticsearch does for the field's type.
func (a *aggregation) keyFields(v indexedValue) map[string]any {
	switch v.Family {
	case "integer":
		return map[string]any{"key": int64(v.Num)}
	case "float":
		return map[string]any{"key": v.Num}
	case "date":
		return map[string]any{"key": v.Time.UnixMilli(), "key_as_string": formatDate(v.Time, a.dateFormat())}
	case "boolean":
		if v.Bool {
			return map[string]any{"key": 1, "key_as_string": "true"}
		}
		return map[string]any{"key": 0, "key_as_string": "false"}
	}
	return map[string]any{"key": v.Str}
}

func (a *aggregation) terms(run *aggRun, docs []*parsedDoc) (map[string]any, *esError) {
	groups := map[string]*bucket{}
	for _, d := range docs {
		seen := map[string]bool{}
		for _, v := range a.values(d) {
			k := keyOf(v)
			if seen[k] {
				continue
			}
			seen[k] = true
			b := groups[k]
			if b == nil {
				b = &bucket{fields: a.keyFields(v), sortKey: v}
				groups[k] = b
			}
			b.docs = append(b.docs, d)
		}
	}
	buckets := make([]*bucket, 0, len(groups))
	for _, b := range groups {
		if len(b.docs) >= a.minDocCount {
			buckets = append(buckets, b)
		}
	}
	if e := a.computeSubs(run, buckets); e != nil {
		return nil, e
	}
	a.sortBuckets(buckets)
	other := 0
	if len(buckets) > a.size {
		for _, b := range buckets[a.size:] {
			other += len(b.docs)
		}
		buckets = buckets[:a.size]
	}
	if e := run.add(len(buckets)); e != nil {
		return nil, e
	}
	return map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": renderBuckets(buckets, false)}, nil
}

// renderBuckets renders buckets as an array, or keyed: an object by key_as_string (else the key).
func renderBuckets(buckets []*bucket, keyed bool) any {
	if keyed {
		out := make(map[string]any, len(buckets))
		for _, b := range buckets {
			r := b.render()
			key, ok := r["key_as_string"].(string)
			if !ok {
				key = fmt.Sprint(r["key"])
			}
			out[key] = r
		}
		return out
	}
	out := make([]any, len(buckets))
	for i, b := range buckets {
		out[i] = b.render()
	}
	return out
}

// computeSubs computes the sub-aggregations of every bucket (before any cut, as an order may use them).
func (a *aggregation) computeSubs(run *aggRun, buckets []*bucket) *esError {
	if len(a.subs) == 0 {
		return nil
	}
	for _, b := range buckets {
		var e *esError
		if b.subs, e = computeAggs(run, a.subs, b.docs); e != nil {
			return e
		}
	}
	return nil
}

// sortBuckets orders buckets by a.order, then by key ascending (Elasticsearch's tie-break).
func (a *aggregation) sortBuckets(buckets []*bucket) {
	sort.SliceStable(buckets, func(i, j int) bool {
		for _, o := range append(slices.Clone(a.order), aggOrder{by: "_key"}) {
			c := 0
			switch o.by {
			case "_count":
				c = cmpInt(len(buckets[i].docs), len(buckets[j].docs))
			case "_key":
				c = cmpValue(buckets[i].sortKey, buckets[j].sortKey)
			default:
				c = cmpMetric(buckets[i].subs[o.by], buckets[j].subs[o.by])
			}
			if o.desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	})
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpValue(a, b indexedValue) int {
	if lessValue(a, b) {
		return -1
	}
	if lessValue(b, a) {
		return 1
	}
	return 0
}

// cmpMetric compares two single-value metric results; a missing value (null) sorts after any number.
func cmpMetric(a, b any) int {
	va, okA := metricValue(a)
	vb, okB := metricValue(b)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return 1
	case !okB:
		return -1
	case va < vb:
		return -1
	case va > vb:
		return 1
	}
	return 0
}

// metricValue is the "value" of a single-value metric result (float64 for avg, sum, min and max; int for
// cardinality and value_count), false when it is null.
func metricValue(result any) (float64, bool) {
	m, _ := result.(map[string]any)
	switch v := m["value"].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

func (a *aggregation) rangeAgg(run *aggRun, docs []*parsedDoc) (map[string]any, *esError) {
	buckets := make([]*bucket, len(a.ranges))
	for i, r := range a.ranges {
		f := map[string]any{}
		key := r.key
		if key == "" {
			key = rangeBound(r.from) + "-" + rangeBound(r.to)
		}
		f["key"] = key
		if r.from != nil {
			f["from"] = *r.from
		}
		if r.to != nil {
			f["to"] = *r.to
		}
		buckets[i] = &bucket{fields: f}
	}
	for _, d := range docs {
		vals := a.values(d)
		for i, r := range a.ranges {
			for _, v := range vals {
				if (r.from == nil || v.Num >= *r.from) && (r.to == nil || v.Num < *r.to) {
					buckets[i].docs = append(buckets[i].docs, d)
					break
				}
			}
		}
	}
	if e := run.add(len(buckets)); e != nil {
		return nil, e
	}
	if e := a.computeSubs(run, buckets); e != nil {
		return nil, e
	}
	if a.keyed {
		out := map[string]any{}
		for _, b := range buckets {
			r := b.render()
			key := r["key"].(string)
			delete(r, "key")
			out[key] = r
		}
		return map[string]any{"buckets": out}, nil
	}
	return map[string]any{"buckets": renderBuckets(buckets, false)}, nil
}

// rangeBound renders a range bound in a bucket key as Java's Double.toString does, "*" when unbounded.
func rangeBound(p *float64) string {
	if p == nil {
		return "*"
	}
	return javaDouble(*p)
}

// javaDouble formats f as Java's Double.toString: "1.0", "0.5", "1.0E7", "1.5E-4".
func javaDouble(f float64) string {
	abs := math.Abs(f)
	if abs == 0 || (abs >= 1e-3 && abs < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // 1E+07, 1.5E-04
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

func (a *aggregation) dateHistogram(run *aggRun, docs []*parsedDoc) (map[string]any, *esError) {
	groups := map[int64]*bucket{}
	for _, d := range docs {
		seen := map[int64]bool{}
		for _, v := range a.values(d) {
			k := a.roundDown(v.Time)
			if seen[k.UnixMilli()] {
				continue
			}
			seen[k.UnixMilli()] = true
			b := groups[k.UnixMilli()]
			if b == nil {
				b = a.dateBucket(k)
				groups[k.UnixMilli()] = b
			}
			b.docs = append(b.docs, d)
		}
	}
	if a.minDocCount == 0 && len(groups) > 0 {
		// Empty buckets between the first and the last, as Elasticsearch fills them.
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		for k := range groups {
			first, last = min(first, k), max(last, k)
		}
		for t := time.UnixMilli(first).UTC(); t.UnixMilli() < last; {
			t = a.next(t)
			if groups[t.UnixMilli()] == nil {
				if len(groups) >= maxBuckets {
					return nil, run.add(len(groups) + 1) // fails: stop before building them all
				}
				groups[t.UnixMilli()] = a.dateBucket(t)
			}
		}
	}
	buckets := make([]*bucket, 0, len(groups))
	for _, b := range groups {
		if len(b.docs) >= a.minDocCount {
			buckets = append(buckets, b)
		}
	}
	if e := run.add(len(buckets)); e != nil {
		return nil, e
	}
	if e := a.computeSubs(run, buckets); e != nil {
		return nil, e
	}
	a.sortBuckets(buckets)
	return map[string]any{"buckets": renderBuckets(buckets, a.keyed)}, nil
}

func (a *aggregation) dateBucket(t time.Time) *bucket {
	return &bucket{
		fields:  map[string]any{"key": t.UnixMilli(), "key_as_string": formatDate(t, a.dateFormat())},
		sortKey: indexedValue{Family: "date", Time: t},
	}
}

// roundDown is the start of the interval holding t (UTC; weeks start on Monday; fixed intervals count from
// the epoch, as Elasticsearch's with offset 0).
func (a *aggregation) roundDown(t time.Time) time.Time {
	t = t.UTC()
	if a.fixed > 0 {
		ms, iv := t.UnixMilli(), a.fixed.Milliseconds()
		k := ms - ((ms%iv)+iv)%iv
		return time.UnixMilli(k).UTC()
	}
	y, m, d := t.Date()
	switch a.calendar {
	case "minute":
		return t.Truncate(time.Minute)
	case "hour":
		return t.Truncate(time.Hour)
	case "day":
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case "week":
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, time.UTC)
	case "month":
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	case "quarter":
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
}

// next is the start of the interval after the one starting at t.
func (a *aggregation) next(t time.Time) time.Time {
	if a.fixed > 0 {
		return t.Add(a.fixed)
	}
	switch a.calendar {
	case "minute":
		return t.Add(time.Minute)
	case "hour":
		return t.Add(time.Hour)
	case "day":
		return t.AddDate(0, 0, 1)
	case "week":
		return t.AddDate(0, 0, 7)
	case "month":
		return t.AddDate(0, 1, 0)
	case "quarter":
		return t.AddDate(0, 3, 0)
	}
	return t.AddDate(1, 0, 0)
}

// dateFormat is the format of key_as_string and value_as_string: the aggregation's, else the first of the
// field's formats.
func (a *aggregation) dateFormat() string {
	if a.format != "" {
		return a.format
	}
	f := defaultDateFormat
	if a.fm != nil && a.fm.Format != "" {
		f = a.fm.Format
	}
	first, _, _ := strings.Cut(f, "||")
	return strings.TrimSpace(first)
}

// formatDate renders t (UTC) with an Elasticsearch date format.
func formatDate(t time.Time, format string) string {
	t = t.UTC()
	switch format {
	case "strict_date_optional_time", "date_optional_time", "strict_date_time", "date_time",
		"strict_date_optional_time_nanos":
		if t.Year() > 9999 {
			return "+" + t.Format("2006-01-02T15:04:05.000Z") // java.time's sign for years beyond four digits
		}
		return t.Format("2006-01-02T15:04:05.000Z")
	case "strict_date", "date":
		return t.Format("2006-01-02")
	case "epoch_millis":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "epoch_second":
		return strconv.FormatInt(t.Unix(), 10)
	}
	return t.Format(javaToGoLayout(format))
}

// metric computes avg, sum, min, max, stats, cardinality and value_count.
func (a *aggregation) metric(docs []*parsedDoc) map[string]any {
	if a.kind == "cardinality" || a.kind == "value_count" {
		count, distinct := 0, map[string]bool{}
		for _, d := range docs {
			for _, v := range a.values(d) {
				count++
				distinct[keyOf(v)] = true
			}
		}
		if a.kind == "cardinality" {
			return map[string]any{"value": len(distinct)}
		}
		return map[string]any{"value": count}
	}
	var nums []float64
	for _, d := range docs {
		for _, v := range a.values(d) {
			nums = append(nums, numericValue(v))
		}
	}
	count, sum := len(nums), 0.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, n := range nums {
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	value := func(f float64, ok bool) any {
		if !ok {
			return nil
		}
		return f
	}
	avg := value(sum/float64(count), count > 0)
	minV, maxV := value(lo, count > 0), value(hi, count > 0)
	family := ""
	if a.fm != nil {
		family = a.fm.family()
	}
	// Dates and booleans have a formatted value besides the number, as Elasticsearch's DocValueFormat gives:
	// a date string; for booleans "true" or "false" (value != 0) in value_as_string, and a JSON boolean in
	// stats' *_as_string.
	asString := func(out map[string]any, key string, v any) {
		f, ok := v.(float64)
		switch {
		case !ok:
		case family == "date":
			out[key] = formatDate(time.UnixMilli(int64(f)), a.dateFormat())
		case family == "boolean" && key == "value_as_string":
			out[key] = strconv.FormatBool(f != 0)
		case family == "boolean":
			out[key] = f != 0
		}
	}
	out := map[string]any{}
	switch a.kind {
	case "avg":
		out["value"] = avg
	case "sum":
		out["value"] = sum
	case "min":
		out["value"] = minV
	case "max":
		out["value"] = maxV
	case "stats":
		out["count"], out["min"], out["max"], out["avg"], out["sum"] = count, minV, maxV, avg, sum
		if count > 0 {
			asString(out, "min_as_string", minV)
			asString(out, "max_as_string", maxV)
			asString(out, "avg_as_string", avg)
			asString(out, "sum_as_string", sum)
		}
		return out
	}
	asString(out, "value_as_string", out["value"])
	return out
}

// numericValue is the value numeric metrics see: the number, a date's epoch milliseconds, a boolean's 0 or 1.
func numericValue(v indexedValue) float64 {
	switch v.Family {
	case "date":
		return float64(v.Time.UnixMilli())
	case "boolean":
		if v.Bool {
			return 1
		}
		return 0
	}
	return v.Num
}
