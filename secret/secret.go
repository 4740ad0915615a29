// Package secret resolves secret references in settings and keeps the resolved values out of everything
// Sluice prints.
//
// Any connector string setting (a DSN, a URL, a password, an API key, a Kafka SASL password) may be
// written as, or contain, a reference:
//
//	${env:NAME}   the value of environment variable NAME (it must be set; it may be empty)
//	${file:PATH}  the content of file PATH, without one trailing newline ("\n" or "\r\n")
//
// e.g. DSN "cdc:${env:MYSQL_PW}@tcp(db:3306)/" or Password "${file:/run/secrets/es}". Resolve expands
// them; connectors call it from New/Validate, so a missing variable or file fails at start-up with an
// error naming the setting and the reference, never the value. Text without "${env:" or "${file:" is
// returned unchanged; "$${" writes a literal "${".
//
// Every value Resolve reads, and every password or key a connector was given literally (Register), is
// kept in a process-wide registry. Redact replaces each occurrence of a registered value in a text with
// "****" and removes passwords from DSNs and URLs it recognises (user:****@tcp(host)/db,
// postgres://user:****@host/db, password=**** in key=value strings). The pipeline's logger (NewHandler),
// its HTTP answers (HTTPHandler: API, /ui data, /metrics, status), the errors Run returns (Error) and the
// status records it publishes pass through Redact.
//
// Values shorter than MinLength bytes are not registered: replacing every "ab" in the logs would destroy
// them, and such a value is not a secret anyone should rely on. The registry only grows; it holds values
// for the life of the process, as the connectors that use them do.
package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask is what Redact writes in place of a secret.
const Mask = "****"

// MinLength is the shortest value Register keeps (see the package documentation).
const MinLength = 4

// ErrUnresolved is wrapped by the errors of Resolve: a reference names an unset variable, an unreadable
// file, or is malformed.
var ErrUnresolved = errors.New("secret reference cannot be resolved")

var (
	mu       sync.Mutex
	values   = map[string]bool{}
	replacer atomic.Pointer[strings.Replacer]
)

// Register adds values to the registry of secrets Redact hides. Empty values and values shorter than
// MinLength are ignored. Register also adds the forms in which a value appears inside JSON strings and
// Prometheus label values (quotes, backslashes and <, >, & escaped), so encoded output is redacted too.
// It is safe for concurrent use.
func Register(vals ...string) {
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, v := range vals {
		if len(v) < MinLength {
			continue
		}
		for _, form := range encodedForms(v) {
			if !values[form] {
				values[form] = true
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	list := make([]string, 0, len(values))
	for v := range values {
		list = append(list, v)
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	pairs := make([]string, 0, 2*len(list))
	for _, v := range list {
		pairs = append(pairs, v, Mask)
	}
	replacer.Store(strings.NewReplacer(pairs...))
}

// encodedForms returns v and the escaped forms it takes inside JSON strings and Prometheus label values.
func encodedForms(v string) []string {
	forms := []string{v}
	if b, err := json.Marshal(v); err == nil {
		if j := string(b[1 : len(b)-1]); j != v {
			forms = append(forms, j)
		}
	}
	if p := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v); p != v {
		forms = append(forms, p)
	}
	return forms
}

// Resolve expands the ${env:NAME} and ${file:PATH} references in s and registers each value it reads
// (see Register). The error names the reference, never a value; callers prefix the setting, e.g.
// "elasticsearch sink: Password: ${env:ES_PW} is not set".
func Resolve(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' { // "$${" is a literal "${"
			b.WriteString(s[:i])
			b.WriteString("{")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		rest := s[i:]
		end := strings.IndexByte(rest, '}')
		kind, arg, isRef := "", "", false
		if end > 0 {
			kind, arg, isRef = strings.Cut(rest[2:end], ":")
			isRef = isRef && (kind == "env" || kind == "file")
		}
		if !isRef {
			if strings.HasPrefix(rest, "${env:") || strings.HasPrefix(rest, "${file:") {
				return "", &unresolved{fmt.Sprintf("a reference starting %q has no closing }", rest[:strings.IndexByte(rest, ':')+1])}
			}
			b.WriteString("${")
			s = rest[2:]
			continue
		}
		ref := rest[:end+1]
		v, err := lookup(kind, arg, ref)
		if err != nil {
			return "", err
		}
		Register(v)
		b.WriteString(v)
		s = rest[end+1:]
	}
	return b.String(), nil
}

func lookup(kind, arg, ref string) (string, error) {
	if arg == "" {
		return "", &unresolved{fmt.Sprintf("%s names no %s", ref, map[string]string{"env": "variable", "file": "file"}[kind])}
	}
	switch kind {
	case "env":
		v, ok := os.LookupEnv(arg)
		if !ok {
			return "", &unresolved{ref + " is not set"}
		}
		return v, nil
	default:
		b, err := os.ReadFile(arg)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in ref already; the error text holds no content
			}
			return "", &unresolved{fmt.Sprintf("%s: %v", ref, err)}
		}
		v := string(b)
		v = strings.TrimSuffix(v, "\n")
		v = strings.TrimSuffix(v, "\r")
		return v, nil
	}
}

// ResolveField resolves *setting in place (see Resolve); the error reads
// "<component>: <field>: ${env:NAME} is not set" ("<component>: ..." when field is empty). When literal is true the resolved value is registered
// whole (a password or an API key given literally is a secret too).
func ResolveField(component, field string, setting *string, literal bool) error {
	v, err := Resolve(*setting)
	if err != nil {
		if field == "" { // the component names the setting, e.g. a command-line flag
			return fmt.Errorf("%s: %w", component, err)
		}
		return fmt.Errorf("%s: %s: %w", component, field, err)
	}
	*setting = v
	if literal {
		Register(v)
	}
	return nil
}

// Redact returns s with every registered secret replaced by Mask and the passwords of DSNs and URLs
// removed (see RedactDSN).
func Redact(s string) string {
	if s == "" {
		return s
	}
	if r := replacer.Load(); r != nil {
		s = r.Replace(s)
	}
	return redactPatterns(s)
}

// Error returns err with its text passed through Redact, or err itself when there is nothing to hide.
// errors.Is and errors.As still see the errors err wraps.
func Error(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	if red := Redact(text); red != text {
		return &redactedError{text: red, err: err}
	}
	return err
}

// unresolved is a Resolve error: its text names the reference, and errors.Is matches ErrUnresolved.
type unresolved struct{ text string }

func (e *unresolved) Error() string        { return e.text }
func (e *unresolved) Is(target error) bool { return target == ErrUnresolved }

type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }
