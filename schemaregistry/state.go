package schemaregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/stream"
)

// Schema types the registry serves.
const (
	TypeAvro = "AVRO"
	TypeJSON = "JSON"
)

// parsedSchema is a schema in the form the registry stores and compares: its type and normalized text
// (identical normalized text under one type is one schema, with one id in every subject).
type parsedSchema struct {
	Type string
	Text string
	avro avro.Schema // nil for JSON
}

func (p parsedSchema) key() string { return p.Type + "\x00" + p.Text }

// parseSchema validates s and normalizes its text: an AVRO schema becomes its full JSON form as hamba/avro
// writes it (names resolved to full names; docs, aliases and properties kept; no whitespace) with every
// default exactly as s writes it (see normalizeAvro), a JSON schema its compacted JSON. A schema hamba/avro
// cannot parse, even one that makes it panic, is refused with CodeInvalidSchema naming the problem.
func parseSchema(s stream.RegisteredSchema) (parsedSchema, error) {
	typ := strings.ToUpper(s.Type)
	if typ == "" {
		typ = TypeAvro
	}
	switch typ {
	case TypeAvro:
		parsed, err := parseAvro(s.Schema)
		if err != nil {
			return parsedSchema{}, invalidSchema("%v", err)
		}
		text, err := normalizeAvro(s.Schema, parsed)
		if err != nil {
			return parsedSchema{}, invalidSchema("%v", err)
		}
		return parsedSchema{Type: typ, Text: text, avro: parsed}, nil
	case TypeJSON:
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(s.Schema)); err != nil {
			return parsedSchema{}, invalidSchema("a JSON schema must be JSON: %v", err)
		}
		var v any
		if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
			return parsedSchema{}, invalidSchema("a JSON schema must be JSON: %v", err)
		}
		switch v.(type) {
		case map[string]any, bool:
		default:
			return parsedSchema{}, invalidSchema("a JSON schema must be an object or a boolean")
		}
		return parsedSchema{Type: typ, Text: buf.String()}, nil
	}
	return parsedSchema{}, invalidSchema("schema type %q is not supported (supported: AVRO, JSON)", s.Type)
}

// parseAvro is hamba/avro's parser, which panics on some malformed schemas (v2.31.0: a field whose type is
// the empty union [] and that has a default): a panic is returned as an error, so that neither a request
// nor a record of the log can bring a replica down.
func parseAvro(text string) (schema avro.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			schema, err = nil, fmt.Errorf("the schema cannot be parsed (%v)", r)
		}
	}()
	return avro.ParseWithCache(text, "", &avro.SchemaCache{})
}

// storedVersion is one version of a subject.
type storedVersion struct {
	Subject string
	Version int
	ID      int
	Deleted bool // soft-deleted
	parsed  parsedSchema
}

// state is what the log's records, applied in order, make of the registry. apply is deterministic: every
// replica that applies the same records in the same order holds the same state and gives every attempt the
// same outcome.
type state struct {
	defaultLevel string
	global       string            // "" = defaultLevel
	subjectLevel map[string]string // subject -> level
	ids          map[string]int    // parsedSchema.key() -> id, kept for good
	schemas      map[int]parsedSchema
	refs         map[int]int // id -> subject versions (soft-deleted ones included) that have it
	nextID       int
	subjects     map[string][]*storedVersion // ascending versions, soft-deleted ones included
}

func newState(defaultLevel string) *state {
	return &state{defaultLevel: defaultLevel, subjectLevel: map[string]string{}, ids: map[string]int{},
		schemas: map[int]parsedSchema{}, refs: map[int]int{}, nextID: 1, subjects: map[string][]*storedVersion{}}
}

// level is the compatibility level that applies to subject.
func (s *state) level(subject string) string {
	if l, ok := s.subjectLevel[subject]; ok {
		return l
	}
	return s.globalLevel()
}

func (s *state) globalLevel() string {
	if s.global != "" {
		return s.global
	}
	return s.defaultLevel
}

func live(versions []*storedVersion) []storedVersion {
	var out []storedVersion
	for _, v := range versions {
		if !v.Deleted {
			out = append(out, *v)
		}
	}
	return out
}

// liveVersion returns the live version of subject with schema p, if any.
func (s *state) liveVersion(subject string, p parsedSchema) (storedVersion, bool) {
	for _, v := range s.subjects[subject] {
		if !v.Deleted && v.parsed.key() == p.key() {
			return *v, true
		}
	}
	return storedVersion{}, false
}

// checkCompatible returns the *Error (CodeIncompatibleSchema) that refuses p under subject, or nil.
func (s *state) checkCompatible(subject string, p parsedSchema) error {
	level := s.level(subject)
	issues := compatibilityIssues(level, p, live(s.subjects[subject]))
	if len(issues) == 0 {
		return nil
	}
	return &Error{Code: CodeIncompatibleSchema, Message: fmt.Sprintf("schema for subject %q is incompatible under %s: %s",
		subject, level, strings.Join(issues, "; "))}
}

// register is the outcome of a registration record: the schema's id and its version under subject (an
// existing live version when the subject already holds it), or the refusal.
func (s *state) register(subject string, p parsedSchema) (id, version int, err error) {
	if v, ok := s.liveVersion(subject, p); ok {
		return v.ID, v.Version, nil
	}
	if err := s.checkCompatible(subject, p); err != nil {
		return 0, 0, err
	}
	id, ok := s.ids[p.key()]
	if !ok {
		id = s.nextID
		s.ids[p.key()] = id
		s.schemas[id] = p
	}
	s.nextID = max(s.nextID, id+1)
	versions := s.subjects[subject]
	version = 1
	if len(versions) > 0 {
		version = versions[len(versions)-1].Version + 1
	}
	s.subjects[subject] = append(versions, &storedVersion{Subject: subject, Version: version, ID: id, parsed: p})
	s.refs[id]++
	return id, version, nil
}

// deleteSubject soft-deletes (or, permanent, removes) every version of subject and returns their numbers.
func (s *state) deleteSubject(subject string, permanent bool) ([]int, error) {
	versions := s.subjects[subject]
	if len(versions) == 0 {
		return nil, subjectNotFound(subject)
	}
	liveOnes := live(versions)
	var numbers []int
	if permanent {
		if len(liveOnes) > 0 {
			return nil, &Error{Code: CodeSubjectNotSoftDeleted, Message: fmt.Sprintf(
				"Subject '%s' was not deleted first before being permanently deleted", subject)}
		}
		for _, v := range versions {
			numbers = append(numbers, v.Version)
			s.refs[v.ID]--
		}
		delete(s.subjects, subject)
		delete(s.subjectLevel, subject)
		return numbers, nil
	}
	if len(liveOnes) == 0 {
		return nil, &Error{Code: CodeSubjectSoftDeleted, Message: fmt.Sprintf(
			"Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)}
	}
	for _, v := range versions {
		if !v.Deleted {
			v.Deleted = true
			numbers = append(numbers, v.Version)
		}
	}
	return numbers, nil
}

// deleteVersion soft-deletes (or, permanent, removes) one version; version -1 is the latest live one.
func (s *state) deleteVersion(subject string, version int, permanent bool) (int, error) {
	versions := s.subjects[subject]
	if len(versions) == 0 {
		return 0, subjectNotFound(subject)
	}
	if version == -1 {
		l := live(versions)
		if len(l) == 0 {
			return 0, subjectNotFound(subject)
		}
		version = l[len(l)-1].Version
	}
	i := slices.IndexFunc(versions, func(v *storedVersion) bool { return v.Version == version })
	if i < 0 {
		return 0, versionNotFound(subject, version)
	}
	v := versions[i]
	if permanent {
		if !v.Deleted {
			return 0, &Error{Code: CodeVersionNotSoftDeleted, Message: fmt.Sprintf(
				"Subject '%s' Version %d was not deleted first before being permanently deleted", subject, version)}
		}
		s.refs[v.ID]--
		s.subjects[subject] = slices.Delete(versions, i, i+1)
		if len(s.subjects[subject]) == 0 {
			delete(s.subjects, subject)
		}
		return version, nil
	}
	if v.Deleted {
		return 0, &Error{Code: CodeVersionSoftDeleted, Message: fmt.Sprintf(
			"Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, version)}
	}
	v.Deleted = true
	return version, nil
}

// setLevel sets (level != "") or removes the compatibility level of subject ("" subject: the global one)
// and returns the level that applied before.
func (s *state) setLevel(subject, level string) (string, error) {
	if subject == "" {
		old := s.globalLevel()
		s.global = level
		return old, nil
	}
	old, had := s.subjectLevel[subject]
	if level != "" {
		s.subjectLevel[subject] = level
		return old, nil
	}
	if !had {
		if _, exists := s.subjects[subject]; !exists {
			return "", subjectNotFound(subject)
		}
		return "", &Error{Code: CodeSubjectCompatibilityNotSet, Message: fmt.Sprintf(
			"Subject '%s' does not have subject-level compatibility configured", subject)}
	}
	delete(s.subjectLevel, subject)
	return old, nil
}

// subjectNames returns the subjects with a live version (with deleted, also those whose versions are all
// soft-deleted), sorted.
func (s *state) subjectNames(deleted bool) []string {
	var names []string
	for name, versions := range s.subjects {
		if deleted || len(live(versions)) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// version returns version v of subject (-1: the latest live one); with deleted, soft-deleted ones count.
func (s *state) version(subject string, v int, deleted bool) (storedVersion, error) {
	versions := s.subjects[subject]
	if len(versions) == 0 || (!deleted && len(live(versions)) == 0) {
		return storedVersion{}, subjectNotFound(subject)
	}
	for i := len(versions) - 1; i >= 0; i-- {
		sv := versions[i]
		if sv.Deleted && !deleted {
			continue
		}
		if v == -1 || sv.Version == v {
			return *sv, nil
		}
	}
	return storedVersion{}, versionNotFound(subject, v)
}

// usedBy returns the subject versions that have schema id (with deleted, soft-deleted ones too).
func (s *state) usedBy(id int, deleted bool) []storedVersion {
	var out []storedVersion
	for _, name := range s.subjectNames(true) {
		for _, v := range s.subjects[name] {
			if v.ID == id && (deleted || !v.Deleted) {
				out = append(out, *v)
			}
		}
	}
	return out
}

// schemaByID returns the schema with id while some subject version (soft-deleted ones included) has it.
func (s *state) schemaByID(id int) (parsedSchema, bool) {
	p, ok := s.schemas[id]
	if !ok || s.refs[id] == 0 {
		return parsedSchema{}, false
	}
	return p, true
}
