package schemaregistry

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
)

// Compatibility levels, as Confluent names them. BACKWARD: a consumer with the new schema reads data written
// with the latest registered one; FORWARD: a consumer with the latest registered schema reads data written
// with the new one; FULL: both; the _TRANSITIVE forms check against every live version of the subject
// instead of the latest only; NONE checks nothing.
const (
	Backward           = "BACKWARD"
	BackwardTransitive = "BACKWARD_TRANSITIVE"
	Forward            = "FORWARD"
	ForwardTransitive  = "FORWARD_TRANSITIVE"
	Full               = "FULL"
	FullTransitive     = "FULL_TRANSITIVE"
	None               = "NONE"
)

// ParseCompatibility returns the level named by name (any letter case), or an *Error with
// CodeInvalidCompatibility.
func ParseCompatibility(name string) (string, error) {
	level := strings.ToUpper(strings.TrimSpace(name))
	switch level {
	case Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive, None:
		return level, nil
	}
	return "", &Error{Code: CodeInvalidCompatibility, Message: fmt.Sprintf(
		"Invalid compatibility level %q. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive", name)}
}

// compatibilityIssues checks candidate against the previous versions of a subject (ascending, live only)
// under level and returns one message per problem, each naming the field and the rule, or nil when the
// candidate is compatible. For level without _TRANSITIVE only the last previous version is checked. Only
// AVRO schemas are checked: JSON schemas are accepted under every level (see the package doc).
func compatibilityIssues(level string, candidate parsedSchema, previous []storedVersion) []string {
	if level == None || len(previous) == 0 {
		return nil
	}
	if !strings.HasSuffix(level, "_TRANSITIVE") {
		previous = previous[len(previous)-1:]
	}
	backward := strings.HasPrefix(level, Backward) || strings.HasPrefix(level, Full)
	forward := strings.HasPrefix(level, Forward) || strings.HasPrefix(level, Full)
	var issues []string
	for i := len(previous) - 1; i >= 0; i-- {
		prev := previous[i]
		if candidate.Type != prev.parsed.Type {
			issues = append(issues, fmt.Sprintf("the schema type changed from %s in the previous version %d to %s",
				prev.parsed.Type, prev.Version, candidate.Type))
			continue
		}
		if candidate.avro == nil || prev.parsed.avro == nil {
			continue
		}
		if backward {
			c := &avroChecker{readerNew: true, prev: prev.Version}
			c.check(candidate.avro, prev.parsed.avro, "the schema")
			issues = append(issues, c.issues...)
		}
		if forward {
			c := &avroChecker{readerNew: false, prev: prev.Version}
			c.check(prev.parsed.avro, candidate.avro, "the schema")
			issues = append(issues, c.issues...)
		}
	}
	return slices.Compact(issues)
}

// avroChecker applies Avro's schema resolution rules (the specification's "Schema Resolution") to a reader
// and a writer schema, collecting problems phrased for a user: which side is the new schema and which the
// previous version.
type avroChecker struct {
	readerNew bool // the reader is the new schema (BACKWARD); else it is the previous version (FORWARD)
	prev      int  // the previous version's number
	issues    []string
	seen      map[[2]*avro.RecordSchema]bool // record pairs under check (recursive types)
}

func (c *avroChecker) side(reader bool) string {
	if reader == c.readerNew {
		return "the new schema"
	}
	return fmt.Sprintf("the previous version %d", c.prev)
}

func (c *avroChecker) fail(format string, args ...any) {
	c.issues = append(c.issues, fmt.Sprintf(format, args...))
}

// matches reports whether reader can read writer, without recording anything.
func (c *avroChecker) matches(reader, writer avro.Schema) bool {
	// A copy of seen: what the trial checks must not count as checked for the real check that may follow.
	trial := &avroChecker{readerNew: c.readerNew, prev: c.prev, seen: maps.Clone(c.seen)}
	trial.check(reader, writer, "")
	return len(trial.issues) == 0
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func typeName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	if u, ok := s.(*avro.UnionSchema); ok {
		var names []string
		for _, t := range u.Types() {
			names = append(names, typeName(deref(t)))
		}
		return "union [" + strings.Join(names, ", ") + "]"
	}
	return string(s.Type())
}

func promotable(writer, reader avro.Type) bool {
	switch writer {
	case avro.Int:
		return reader == avro.Long || reader == avro.Float || reader == avro.Double
	case avro.Long:
		return reader == avro.Float || reader == avro.Double
	case avro.Float:
		return reader == avro.Double
	case avro.String:
		return reader == avro.Bytes
	case avro.Bytes:
		return reader == avro.String
	}
	return false
}

// check records why reader cannot read data written with writer; where names the place ("the schema",
// `field "x" (in record a.B)`).
func (c *avroChecker) check(reader, writer avro.Schema, where string) {
	reader, writer = deref(reader), deref(writer)
	if wu, ok := writer.(*avro.UnionSchema); ok {
		if ru, ok := reader.(*avro.UnionSchema); ok {
			for _, wt := range wu.Types() {
				if slices.ContainsFunc(ru.Types(), func(rt avro.Schema) bool { return c.matches(rt, wt) }) {
					continue
				}
				// Avro resolves a named branch to the reader's branch of the same name: what keeps that one
				// from reading it (a record's field, say) is the issue to name.
				if wn, ok := deref(wt).(avro.NamedSchema); ok {
					if i := slices.IndexFunc(ru.Types(), func(rt avro.Schema) bool {
						rn, ok := deref(rt).(avro.NamedSchema)
						return ok && rn.FullName() == wn.FullName()
					}); i >= 0 {
						c.check(ru.Types()[i], wt, where)
						continue
					}
				}
				c.fail("%s: the branch %s of %s's union has no matching branch in %s's union",
					where, typeName(deref(wt)), c.side(false), c.side(true))
			}
			return
		}
		for _, wt := range wu.Types() {
			c.check(reader, wt, where)
		}
		return
	}
	if ru, ok := reader.(*avro.UnionSchema); ok {
		if !slices.ContainsFunc(ru.Types(), func(rt avro.Schema) bool { return c.matches(rt, writer) }) {
			c.fail("%s has type %s in %s, which no branch of %s in %s can read",
				where, typeName(writer), c.side(false), typeName(reader), c.side(true))
		}
		return
	}
	if reader.Type() != writer.Type() {
		if !promotable(writer.Type(), reader.Type()) {
			c.fail("%s has type %s in %s and %s in %s, which Avro cannot resolve",
				where, typeName(writer), c.side(false), typeName(reader), c.side(true))
		}
		return
	}
	switch r := reader.(type) {
	case *avro.ArraySchema:
		c.check(r.Items(), writer.(*avro.ArraySchema).Items(), "the items of "+where)
	case *avro.MapSchema:
		c.check(r.Values(), writer.(*avro.MapSchema).Values(), "the values of "+where)
	case *avro.FixedSchema:
		w := writer.(*avro.FixedSchema)
		if !c.sameName(r, w, where) {
			return
		}
		if r.Size() != w.Size() {
			c.fail("%s: fixed %s has size %d in %s and %d in %s", where, r.FullName(), w.Size(), c.side(false), r.Size(), c.side(true))
		}
	case *avro.EnumSchema:
		w := writer.(*avro.EnumSchema)
		if !c.sameName(r, w, where) || r.HasDefault() {
			return
		}
		for _, sym := range w.Symbols() {
			if !slices.Contains(r.Symbols(), sym) {
				c.fail("%s: symbol %q of enum %s in %s is missing in %s, whose enum has no default",
					where, sym, r.FullName(), c.side(false), c.side(true))
			}
		}
	case *avro.RecordSchema:
		w := writer.(*avro.RecordSchema)
		if !c.sameName(r, w, where) {
			return
		}
		pair := [2]*avro.RecordSchema{r, w}
		if c.seen[pair] {
			return
		}
		if c.seen == nil {
			c.seen = map[[2]*avro.RecordSchema]bool{}
		}
		c.seen[pair] = true
		c.checkFields(r, w)
	}
}

func (c *avroChecker) sameName(reader, writer avro.NamedSchema, where string) bool {
	if reader.FullName() == writer.FullName() || slices.Contains(reader.Aliases(), writer.FullName()) {
		return true
	}
	c.fail("%s is named %s in %s and %s in %s (no alias)", where, writer.FullName(), c.side(false), reader.FullName(), c.side(true))
	return false
}

func (c *avroChecker) checkFields(reader, writer *avro.RecordSchema) {
	for _, rf := range reader.Fields() {
		where := fmt.Sprintf("field %q (in record %s)", rf.Name(), reader.FullName())
		i := slices.IndexFunc(writer.Fields(), func(wf *avro.Field) bool {
			return wf.Name() == rf.Name() || slices.Contains(rf.Aliases(), wf.Name())
		})
		if i < 0 {
			if rf.HasDefault() {
				continue
			}
			if c.readerNew {
				c.fail("%s was added without a default, so the new schema cannot read data written with the previous version %d", where, c.prev)
			} else {
				c.fail("%s was removed and has no default in the previous version %d", where, c.prev)
			}
			continue
		}
		c.check(rf.Type(), writer.Fields()[i].Type(), where)
	}
}
