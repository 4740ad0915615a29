package topology

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/internal/opsapi"
)

// The audit log.
//
// Every operator action, that is every API request that is not a GET or HEAD (pause, resume, stop,
// restart, offsets change, offsets reset, and whatever action later versions add), is recorded once,
// whether it was accepted or refused (401, 403, 404, 409, 503 ...):
//   - as one log line with msg "audit" and the attributes id, who (the token's name, "anonymous" without a
//     token, "unknown token" for a token no one configured), role, action, target, result ("accepted" for
//     2xx, "refused" for 4xx, "failed" for 5xx), status and, for a refusal, the answer's message;
//   - as one record on the compacted topic <pipeline>.audit (auditTopic), keyed by the record's unique id
//     (so compaction keeps every record), its value the auditRecord as JSON.
//
// The record is written before the answer is sent, within auditTimeout; when Kafka does not acknowledge it
// in time (or before start-up created the topic) the log line still stands and a warning says the topic
// lacks it. Tokens are never part of a record.

// auditTimeout bounds the write of one audit record to the audit topic.
const auditTimeout = 5 * time.Second

// auditRecord is the value of a record on the audit topic.
type auditRecord struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Pipeline string    `json:"pipeline"`
	Replica  string    `json:"replica"`
	Who      string    `json:"who"`
	Role     string    `json:"role,omitempty"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
	Result   string    `json:"result"`
	Status   int       `json:"status"`
	Message  string    `json:"message,omitempty"`
}

// auditLog writes audit records; it opens its producer at the first action and closes it in close.
type auditLog struct {
	p *pipelineRun

	mu       sync.Mutex
	producer *kafka.Producer
	closed   bool
}

// actionOf names the operator action of a request: pause, resume, stop, restart, offsets change, offsets
// reset, or for another path the method and the path's last segment. ok is false for reads.
func actionOf(r *http.Request) (action, target string, ok bool) {
	if safeMethod(r.Method) || r.Method == http.MethodOptions {
		return "", "", false
	}
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	last := parts[len(parts)-1]
	target = "/" + path
	if len(parts) >= 2 && parts[0] == "pipelines" {
		target = "pipeline " + parts[1]
	}
	q := r.URL.Query()
	for _, k := range []string{"flow", "source", "task"} {
		if v := q.Get(k); v != "" {
			target += fmt.Sprintf(" %s %q", k, v)
		}
	}
	switch {
	case r.Method == http.MethodPut && (last == "pause" || last == "resume" || last == "stop"):
		action = last
	case r.Method == http.MethodPost && last == "restart":
		action = last
	case r.Method == http.MethodPatch && last == "offsets":
		action = "offsets change"
	case r.Method == http.MethodDelete && last == "offsets":
		action = "offsets reset"
	default:
		action = strings.ToLower(r.Method) + " " + last
	}
	return action, target, true
}

// statusRecorder remembers the status and the start of the body of an answer.
type statusRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if room := 1024 - s.body.Len(); room > 0 {
		s.body.Write(b[:min(room, len(b))])
	}
	return s.ResponseWriter.Write(b)
}

// audited serves r with next and, when r is an operator action, records it.
func (a *auditLog) audited(w http.ResponseWriter, r *http.Request, next http.Handler) {
	action, target, ok := actionOf(r)
	if !ok {
		next.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	next.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	who := callerOf(r)
	entry := auditRecord{ID: newCommandID(), Time: time.Now().UTC(), Pipeline: a.p.t.name, Replica: a.p.replicaID,
		Who: who.name, Role: who.role, Action: action, Target: target, Method: r.Method, Path: r.URL.Path, Status: rec.status}
	switch {
	case rec.status < 300:
		entry.Result = "accepted"
	case rec.status < 500:
		entry.Result = "refused"
	default:
		entry.Result = "failed"
	}
	if rec.status >= 300 {
		var e opsapi.Error
		if json.Unmarshal(rec.body.Bytes(), &e) == nil {
			entry.Message = e.Message
		}
	}
	a.record(r.Context(), entry)
}

// record logs entry and writes it to the audit topic.
func (a *auditLog) record(ctx context.Context, e auditRecord) {
	attrs := []any{"id", e.ID, "who", e.Who, "role", e.Role, "when", e.Time, "action", e.Action, "target", e.Target,
		"result", e.Result, "status", e.Status}
	if e.Message != "" {
		attrs = append(attrs, "message", e.Message)
	}
	a.p.log.Info("audit", attrs...)
	topic := auditTopic(a.p.t.name)
	if err := a.send(context.WithoutCancel(ctx), topic, e); err != nil {
		a.p.log.Warn("the audit topic lacks a record that the log has", "topic", topic, "id", e.ID, "err", err)
	}
}

// send writes one record to the audit topic and waits for Kafka's acknowledgement, within auditTimeout.
func (a *auditLog) send(ctx context.Context, topic string, e auditRecord) error {
	value, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, auditTimeout)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock() // one record at a time: actions are rare, and close must not race a send
	if a.closed {
		return fmt.Errorf("the pipeline is shutting down")
	}
	if a.producer == nil {
		cfg := a.p.saramaConfig("sluice-audit")
		pr, err := kafka.Within(ctx, auditTimeout, a.p.brokers, "the audit producer's metadata request",
			func() (*kafka.Producer, error) { return kafka.NewProducer(a.p.brokers, cfg) },
			func(pr *kafka.Producer) { _ = pr.Close() })
		if err != nil {
			return err
		}
		a.producer = pr
	}
	acked := make(chan error, 1)
	if err := a.producer.Send(ctx, kafka.Message{Topic: topic, Key: []byte(e.ID), Value: value},
		func(_ int32, _ int64, err error) { acked <- err }); err != nil {
		return err
	}
	select {
	case err := <-acked:
		if err != nil {
			return inOwnWords(err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("Kafka did not acknowledge it within %v", auditTimeout)
	}
}

// close closes the producer; records after it are only logged.
func (a *auditLog) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.producer != nil {
		_ = a.producer.Close()
		a.producer = nil
	}
}
