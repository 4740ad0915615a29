package esserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file is a small runner for Elasticsearch's YAML REST tests (rest-api-spec/test/**.yml, the format
// documented in Elasticsearch's rest-api-spec/src/yamlRestTest/README): setup/teardown sections, and the
// steps do (with catch, headers, ignore), match, length, is_true, is_false, exists, gt, gte, lt, lte, set,
// skip and requires. It talks plain HTTP to the server; the API name -> method and path table comes from
// testdata/rest-api-spec/api/paths.json.

// restAPIPath is one url form of an API.
type restAPIPath struct {
	Path    string   `json:"path"`
	Methods []string `json:"methods"`
}

// restRunnerVersion is the version the runner compares skip/requires version ranges with.
const restRunnerVersion = Version

// restRunnerFeatures are the test_runner_features (skip.features / requires.test_runner_features) this
// runner implements; a test that needs any other is skipped, as Elasticsearch's runner does.
var restRunnerFeatures = map[string]bool{
	"headers": true, "allowed_warnings": true, "allowed_warnings_regex": true, "default_shards": true,
	"stash_in_path": true, "arbitrary_key": false, "contains": false, "warnings": true, "warnings_regex": true,
	"capabilities": false, "node_selector": false, "transform_and_set": false, "yaml": false, "close_to": false,
	"is_after": false, "stash_path_replace": false, "embedded_stash_key": false, "stash_in_key": false,
}

// restTest is one test of a file, with the file's setup and teardown.
type restTest struct {
	File     string // relative to testdata/rest-api-spec/test, e.g. "get/90_versions.yml"
	Name     string
	Setup    []any
	Steps    []any
	Teardown []any
}

// loadRestFile parses one YAML test file: a stream of documents, each a one-key map (setup, teardown or a
// test name) whose value is a list of steps.
func loadRestFile(path, rel string) ([]*restTest, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var setup, teardown []any
	var tests []*restTest
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			name := m.Content[i].Value
			var steps []any
			if err := m.Content[i+1].Decode(&steps); err != nil {
				return nil, fmt.Errorf("%s: section %q: %w", rel, name, err)
			}
			switch name {
			case "setup":
				setup = steps
			case "teardown":
				teardown = steps
			default:
				tests = append(tests, &restTest{File: rel, Name: name, Steps: steps})
			}
		}
	}
	for _, t := range tests {
		t.Setup, t.Teardown = setup, teardown
	}
	return tests, nil
}

// restOutcome is what running one test gave.
type restOutcome struct {
	Status string // passed, failed, skipped
	Reason string // why it failed or was skipped
	Notes  []string
}

// restRun is the state of one test's execution against one server.
type restRun struct {
	ctx      context.Context
	base     string
	apis     map[string][]restAPIPath
	client   *http.Client
	stash    map[string]any
	status   int
	body     any // decoded JSON, a string, or a bool for HEAD requests
	bodyText string
	notes    []string
}

// skipReason evaluates a skip or requires section; it returns why the test must be skipped, or "".
func skipReason(kind string, sec map[string]any) string {
	reason, _ := sec["reason"].(string)
	feats := func(key string) []string {
		switch v := sec[key].(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, x := range v {
				out = append(out, fmt.Sprint(x))
			}
			return out
		}
		return nil
	}
	runnerFeats := append(feats("features"), feats("test_runner_features")...)
	for _, f := range runnerFeats {
		if !restRunnerFeatures[f] {
			return fmt.Sprintf("needs runner feature %q (not implemented by this runner)", f)
		}
	}
	if _, ok := sec["capabilities"]; ok {
		return "needs the capabilities API (not implemented): " + reason
	}
	for _, f := range feats("cluster_features") {
		has := clusterHasFeature(f)
		if kind == "skip" && has {
			return fmt.Sprintf("skipped on clusters with %s: %s", f, reason)
		}
		if kind == "requires" && !has {
			return fmt.Sprintf("requires cluster feature %s: %s", f, reason)
		}
	}
	if v, ok := sec["version"].(string); ok && kind == "skip" && versionInRanges(restRunnerVersion, v) {
		return fmt.Sprintf("skipped on version %s (%s): %s", restRunnerVersion, v, reason)
	}
	return ""
}

// clusterHasFeature answers for the server: "gte_vX.Y.Z" compares with its version; named historical
// features (bulk_auto_id, ...) are features every 8.x cluster has.
func clusterHasFeature(f string) bool {
	if v, ok := strings.CutPrefix(f, "gte_v"); ok {
		return compareVersions(restRunnerVersion, v) >= 0
	}
	return true
}

func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 3; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// versionInRanges evaluates "all", "a - b", " - b", "a - " and comma-separated lists of them.
func versionInRanges(v, ranges string) bool {
	for _, r := range strings.Split(ranges, ",") {
		r = strings.TrimSpace(r)
		if r == "all" {
			return true
		}
		lo, hi, ok := strings.Cut(r, "-")
		if !ok {
			continue
		}
		lo, hi = strings.TrimSpace(lo), strings.TrimSpace(hi)
		if (lo == "" || compareVersions(v, lo) >= 0) && (hi == "" || compareVersions(v, hi) <= 0) {
			return true
		}
	}
	return false
}

// removeTypeMatches drops match assertions on a _type field: the files' stored versions are partly the
// 7.x ones, and this is the transformation Elasticsearch's own build applies to run 7.x tests against 8.x
// (yamlRestCompatTest's removeMatch("_type")). It returns the remaining steps and how many it removed.
func removeTypeMatches(steps []any) ([]any, int) {
	var out []any
	n := 0
	for _, s := range steps {
		if m, ok := s.(map[string]any); ok {
			if a, ok := m["match"].(map[string]any); ok && len(a) == 1 {
				for k := range a {
					parts := splitPath(k)
					if len(parts) > 0 && parts[len(parts)-1] == "_type" {
						n++
						goto next
					}
				}
			}
		}
		out = append(out, s)
	next:
	}
	return out, n
}

// unknownAPIs lists the APIs a test calls that are not in the table (esserver does not claim them).
func unknownAPIs(t *restTest, apis map[string][]restAPIPath) []string {
	seen := map[string]bool{}
	for _, steps := range [][]any{t.Setup, t.Steps, t.Teardown} {
		for _, s := range steps {
			m, _ := s.(map[string]any)
			do, _ := m["do"].(map[string]any)
			for k := range do {
				switch k {
				case "catch", "headers", "warnings", "allowed_warnings", "allowed_warnings_regex", "warnings_regex", "node_selector":
					continue
				}
				if _, ok := apis[k]; !ok {
					seen[k] = true
				}
			}
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runTest runs one test's setup, steps and teardown and says what happened.
func (r *restRun) runTest(t *restTest) restOutcome {
	for _, sec := range [][]any{t.Setup, t.Steps} {
		for _, s := range sec {
			m, _ := s.(map[string]any)
			for _, kind := range []string{"skip", "requires"} {
				if sk, ok := m[kind].(map[string]any); ok {
					if why := skipReason(kind, sk); why != "" {
						return restOutcome{Status: "skipped", Reason: why}
					}
				}
			}
		}
	}
	steps, removed := removeTypeMatches(t.Steps)
	if removed > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d match(es) on _type removed (7.x file version)", removed))
	}
	for i, s := range append(append([]any{}, t.Setup...), steps...) {
		if err := r.step(s); err != nil {
			where := "setup"
			if i >= len(t.Setup) {
				where = fmt.Sprintf("step %d", i-len(t.Setup)+1)
			}
			return restOutcome{Status: "failed", Reason: where + ": " + err.Error(), Notes: r.notes}
		}
	}
	for _, s := range t.Teardown {
		if err := r.step(s); err != nil {
			return restOutcome{Status: "failed", Reason: "teardown: " + err.Error(), Notes: r.notes}
		}
	}
	return restOutcome{Status: "passed", Notes: r.notes}
}

func (r *restRun) step(s any) error {
	m, ok := s.(map[string]any)
	if !ok || len(m) != 1 {
		return fmt.Errorf("malformed step %v", s)
	}
	for kind, arg := range m {
		switch kind {
		case "skip", "requires":
			return nil // evaluated before running
		case "do":
			do, _ := arg.(map[string]any)
			return r.do(do)
		case "set":
			for path, name := range arg.(map[string]any) {
				v, err := r.lookup(path)
				if err != nil {
					return fmt.Errorf("set %s: %w", path, err)
				}
				r.stash[fmt.Sprint(name)] = v
			}
			return nil
		case "match", "length", "gt", "gte", "lt", "lte":
			for path, want := range arg.(map[string]any) {
				if err := r.compare(kind, path, want); err != nil {
					return err
				}
			}
			return nil
		case "is_true", "is_false", "exists":
			path := fmt.Sprint(arg)
			if arg == nil {
				path = ""
			}
			v, _ := r.lookup(path)
			truthy := isTruthy(v)
			switch {
			case kind == "is_true" && !truthy:
				return fmt.Errorf("is_true %q: got %s", path, show(v))
			case kind == "is_false" && truthy:
				return fmt.Errorf("is_false %q: got %s", path, show(v))
			case kind == "exists" && v == nil:
				return fmt.Errorf("exists %q: missing", path)
			}
			return nil
		default:
			return fmt.Errorf("unsupported step %q", kind)
		}
	}
	return nil
}

func isTruthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != "" && t != "false"
	case json.Number:
		return t.String() != "0"
	case int, int64, float64:
		return fmt.Sprint(t) != "0"
	}
	return true
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// resolve replaces stashed "$name" / "${name}" values (whole strings) throughout v.
func (r *restRun) resolve(v any) any {
	switch t := v.(type) {
	case string:
		if name, ok := strings.CutPrefix(t, "$"); ok {
			name = strings.TrimSuffix(strings.TrimPrefix(name, "{"), "}")
			if name == "body" {
				return r.body
			}
			if sv, ok := r.stash[name]; ok {
				return sv
			}
		}
		return t
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = r.resolve(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = r.resolve(x)
		}
		return out
	}
	return v
}

// paramString renders a do parameter for a URL: lists are comma-joined.
func paramString(v any) string {
	switch t := v.(type) {
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = paramString(x)
		}
		return strings.Join(parts, ",")
	case json.Number:
		return t.String()
	}
	return fmt.Sprint(v)
}

var statusCatches = map[string]int{"missing": 404, "conflict": 409, "bad_request": 400, "unauthorized": 401,
	"forbidden": 403, "request_timeout": 408, "unavailable": 503}

func (r *restRun) do(do map[string]any) error {
	var api string
	var params map[string]any
	catch, _ := do["catch"].(string)
	headers := http.Header{}
	var warnings, warningsRegex []string
	for key, dst := range map[string]*[]string{"warnings": &warnings, "warnings_regex": &warningsRegex} {
		if list, ok := do[key].([]any); ok {
			for _, w := range list {
				*dst = append(*dst, fmt.Sprint(w))
			}
		}
	}
	for k, v := range do {
		switch k {
		case "catch", "warnings", "allowed_warnings", "allowed_warnings_regex", "warnings_regex", "node_selector":
		case "headers":
			for hk, hv := range v.(map[string]any) {
				headers.Set(hk, fmt.Sprint(hv))
			}
		default:
			api = k
			params, _ = r.resolve(v).(map[string]any)
		}
	}
	paths, ok := r.apis[api]
	if !ok {
		return fmt.Errorf("API %q is not in the runner's table", api)
	}
	body, hasBody := params["body"]
	ignore := map[int]bool{}
	switch t := params["ignore"].(type) {
	case int:
		ignore[t] = true
	case []any:
		for _, x := range t {
			n, _ := strconv.Atoi(fmt.Sprint(x))
			ignore[n] = true
		}
	}
	// The path whose parts are all given, with the most parts.
	var chosen *restAPIPath
	best := -1
	for i := range paths {
		p := &paths[i]
		parts := pathParts(p.Path)
		all := true
		for _, part := range parts {
			if v, ok := params[part]; !ok || paramString(v) == "" {
				all = false
			}
		}
		if all && len(parts) > best {
			chosen, best = p, len(parts)
		}
	}
	if chosen == nil {
		if catch == "param" {
			return nil // the client could not build the request, as the test expects
		}
		return fmt.Errorf("%s: no url form of the API takes the given parameters", api)
	}
	if catch == "param" {
		return fmt.Errorf("%s: expected a parameter error, but the request could be built", api)
	}
	path := chosen.Path
	used := map[string]bool{"body": true, "ignore": true}
	for _, part := range pathParts(chosen.Path) {
		path = strings.ReplaceAll(path, "{"+part+"}", url.PathEscape(paramString(params[part])))
		used[part] = true
	}
	q := url.Values{}
	for k, v := range params {
		if !used[k] {
			q.Set(k, paramString(v))
		}
	}
	method := chosen.Methods[0]
	if hasBody {
		for _, m := range []string{"POST", "PUT"} {
			if contains(chosen.Methods, m) {
				method = m
				break
			}
		}
	}
	var payload []byte
	if hasBody {
		var err error
		payload, err = encodeBody(api, body)
		if err != nil {
			return err
		}
		if headers.Get("Content-Type") == "" {
			headers.Set("Content-Type", "application/json")
		}
	}
	u := r.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header = headers
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	r.status, r.bodyText = resp.StatusCode, string(raw)
	switch {
	case method == http.MethodHead:
		r.body = resp.StatusCode == http.StatusOK
	case strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(bytes.TrimSpace(raw)) > 0:
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("%s %s: response is not JSON: %v", method, u, err)
		}
		r.body = v
	default:
		r.body = string(raw)
	}
	// warnings: each expected deprecation warning must be in a Warning header of the response.
	got := strings.Join(resp.Header.Values("Warning"), "\n")
	for _, w := range warnings {
		if !strings.Contains(got, w) {
			return fmt.Errorf("%s %s: expected warning %q, got %q", method, u, w, got)
		}
	}
	for _, w := range warningsRegex {
		if re, err := regexp.Compile(w); err != nil || !re.MatchString(got) {
			return fmt.Errorf("%s %s: expected a warning matching %q, got %q", method, u, w, got)
		}
	}
	failed := resp.StatusCode >= 400 && !(method == http.MethodHead && resp.StatusCode == 404)
	switch {
	case catch == "":
		if failed && !ignore[resp.StatusCode] {
			return fmt.Errorf("%s %s: status %d: %s", method, u, resp.StatusCode, clip(r.bodyText))
		}
	case statusCatches[catch] != 0:
		if resp.StatusCode != statusCatches[catch] {
			return fmt.Errorf("%s %s: expected %s (%d), got %d: %s", method, u, catch, statusCatches[catch], resp.StatusCode, clip(r.bodyText))
		}
	case catch == "request":
		if resp.StatusCode < 400 {
			return fmt.Errorf("%s %s: expected an error, got %d", method, u, resp.StatusCode)
		}
	case strings.HasPrefix(catch, "/") && strings.HasSuffix(catch, "/") && len(catch) > 1:
		if resp.StatusCode < 400 {
			return fmt.Errorf("%s %s: expected an error matching %s, got %d", method, u, catch, resp.StatusCode)
		}
		re, err := regexp.Compile(catch[1 : len(catch)-1])
		if err != nil {
			return fmt.Errorf("catch %s: %w", catch, err)
		}
		if !re.MatchString(r.bodyText) {
			return fmt.Errorf("%s %s: error does not match %s: %s", method, u, catch, clip(r.bodyText))
		}
	default:
		return fmt.Errorf("unsupported catch %q", catch)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var partRe = regexp.MustCompile(`\{([^}]+)\}`)

func pathParts(p string) []string {
	var out []string
	for _, m := range partRe.FindAllStringSubmatch(p, -1) {
		out = append(out, m[1])
	}
	return out
}

// encodeBody renders a do body: bulk takes NDJSON (a list of lines, or a string), others JSON.
func encodeBody(api string, body any) ([]byte, error) {
	if s, ok := body.(string); ok {
		if api == "bulk" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		return []byte(s), nil
	}
	if list, ok := body.([]any); ok && api == "bulk" {
		var b bytes.Buffer
		for _, line := range list {
			if s, ok := line.(string); ok {
				b.WriteString(s)
			} else {
				j, err := json.Marshal(line)
				if err != nil {
					return nil, err
				}
				b.Write(j)
			}
			b.WriteByte('\n')
		}
		return b.Bytes(), nil
	}
	return json.Marshal(body)
}

// splitPath splits a response path on dots that are not escaped with a backslash.
func splitPath(p string) []string {
	if p == "" || p == "$body" {
		return nil
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) && p[i+1] == '.' {
			cur.WriteByte('.')
			i++
			continue
		}
		if p[i] == '.' {
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(p[i])
	}
	return append(parts, cur.String())
}

// lookup walks the last response body along a dotted path (array indices are numbers; $var parts are
// replaced by stashed values).
func (r *restRun) lookup(path string) (any, error) {
	v := r.body
	for _, part := range splitPath(path) {
		if strings.HasPrefix(part, "$") {
			part = paramString(r.resolve(part))
		}
		switch t := v.(type) {
		case map[string]any:
			x, ok := t[part]
			if !ok {
				return nil, fmt.Errorf("no field %q in %s", part, show(t))
			}
			v = x
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(t) {
				return nil, fmt.Errorf("no element %q in a list of %d", part, len(t))
			}
			v = t[i]
		default:
			return nil, fmt.Errorf("cannot descend into %s with %q", show(v), part)
		}
	}
	return v, nil
}

func (r *restRun) compare(kind, path string, want any) error {
	want = r.resolve(want)
	got, err := r.lookup(path)
	if err != nil && kind != "match" {
		return fmt.Errorf("%s %q: %w", kind, path, err)
	}
	switch kind {
	case "match":
		if s, ok := want.(string); ok && len(s) > 1 && strings.HasPrefix(s, "/") && strings.HasSuffix(strings.TrimSpace(s), "/") {
			re, rerr := regexp.Compile(stripRegexComments(strings.TrimSpace(s)[1 : len(strings.TrimSpace(s))-1]))
			if rerr != nil {
				return fmt.Errorf("match %q: bad regex: %w", path, rerr)
			}
			if !re.MatchString(fmt.Sprint(plain(got))) {
				return fmt.Errorf("match %q: %s does not match %s", path, show(got), s)
			}
			return nil
		}
		if err != nil {
			if want == nil {
				return nil
			}
			return fmt.Errorf("match %q: %w", path, err)
		}
		if !equalValues(plain(want), plain(got)) {
			return fmt.Errorf("match %q: want %s, got %s", path, show(want), show(got))
		}
		return nil
	case "length":
		n := -1
		switch t := got.(type) {
		case []any:
			n = len(t)
		case map[string]any:
			n = len(t)
		case string:
			n = len(t)
		}
		w, _ := toFloat(plain(want))
		if float64(n) != w {
			return fmt.Errorf("length %q: want %v, got %d", path, want, n)
		}
		return nil
	}
	g, ok1 := toFloat(plain(got))
	w, ok2 := toFloat(plain(want))
	if !ok1 || !ok2 {
		return fmt.Errorf("%s %q: not numbers: %s, %s", kind, path, show(got), show(want))
	}
	ok := map[string]bool{"gt": g > w, "gte": g >= w, "lt": g < w, "lte": g <= w}[kind]
	if !ok {
		return fmt.Errorf("%s %q: got %v, want %s %v", kind, path, g, kind, w)
	}
	return nil
}

// stripRegexComments emulates Java's Pattern.COMMENTS, which the match assertion uses: unescaped
// whitespace is ignored.
func stripRegexComments(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			b.WriteByte(c)
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// plain normalises numbers (json.Number, int) to int64 or float64 and keys to strings, recursively.
func plain(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case int:
		return int64(t)
	case uint64:
		return float64(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = plain(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plain(x)
		}
		return out
	}
	return v
}

func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case float64:
		return t, true
	case string:
		f, err := strconv.ParseFloat(t, 64)
		return f, err == nil
	}
	return math.NaN(), false
}

// equalValues compares like the YAML runner: numbers by value (1 == 1.0), strings that hold a number
// equal to that number only when both are strings.
func equalValues(want, got any) bool {
	switch w := want.(type) {
	case int64, float64:
		g, ok := got.(int64)
		if ok {
			if wi, ok := w.(int64); ok {
				return wi == g
			}
		}
		wf, _ := toFloat(w)
		gf, ok := toFloat(got)
		_, isStr := got.(string)
		return ok && !isStr && wf == gf
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, x := range w {
			if y, ok := g[k]; !ok || !equalValues(x, y) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !equalValues(w[i], g[i]) {
				return false
			}
		}
		return true
	case string:
		if g, ok := got.(string); ok {
			return g == w
		}
		// The YAML "id: 1" for a string "1" in the response.
		return fmt.Sprint(got) == w && got != nil
	}
	return reflect.DeepEqual(want, got)
}
