package topology

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/secret"
	"github.com/sluicehq/sluice/stream"
)

func headerMap(t *testing.T, msg kafka.Message) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, h := range msg.Headers {
		if _, dup := m[string(h.Key)]; dup {
			t.Errorf("header %s twice in %v", h.Key, msg.Headers)
		}
		m[string(h.Key)] = string(h.Value)
	}
	return m
}

func hdr(k, v string) sarama.RecordHeader {
	return sarama.RecordHeader{Key: []byte(k), Value: []byte(v)}
}

// A record failing for the first time gets attempts 1 and a first failure of now (UTC, milliseconds).
func TestLineageOfAFirstFailure(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	msg := deadLetterMessage(deadLetter{
		msg:    kafka.Message{Topic: "dlq", Key: []byte("k"), Value: []byte(`{"a":1}`), Headers: []sarama.RecordHeader{hdr("trace", "t1")}},
		reason: &stageError{stage: "check", err: errors.New("no")}, stage: "check", flow: "index", pipeline: "shop",
		read: &recordRef{topic: "orders", partition: 2, offset: 7},
	})
	h := headerMap(t, msg)
	first, err := time.Parse(time.RFC3339Nano, h[HeaderErrorFirstFailure])
	if err != nil || first.Before(before) || first.After(time.Now()) || len(h[HeaderErrorFirstFailure]) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("first failure %q (%v), want now as RFC 3339 UTC with milliseconds", h[HeaderErrorFirstFailure], err)
	}
	want := map[string]string{"trace": "t1", HeaderErrorAttempts: "1", HeaderErrorPipeline: "shop", HeaderErrorClass: ErrorClassStage,
		HeaderErrorStage: "check", HeaderErrorFlow: "index", HeaderErrorTopic: "orders", HeaderErrorPartition: "2", HeaderErrorOffset: "7",
		HeaderErrorReason: `stage "check": no`}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
}

// A redriven record that fails again keeps its first failure, has its attempts raised, and carries this
// failure's sluice.errors.* headers only (once each); its other headers (the redrive's too) stay.
func TestLineageOfARedrivenRecord(t *testing.T) {
	const firstFailure = "2026-11-27T08:00:00.123Z"
	old := []sarama.RecordHeader{
		hdr("trace", "t1"),
		hdr(HeaderErrorReason, "the old reason"), hdr(HeaderErrorStage, "old-stage"), hdr(HeaderErrorClass, ErrorClassStage),
		hdr(HeaderErrorTopic, "orders"), hdr(HeaderErrorOffset, "3"), hdr(HeaderErrorPipeline, "shop"),
		hdr(HeaderErrorFirstFailure, firstFailure), hdr(HeaderErrorAttempts, "2"),
		hdr("sluice.redrive.of", "shop.dlq/0@4"),
	}
	msg := deadLetterMessage(deadLetter{
		msg:    kafka.Message{Topic: "dlq", Value: []byte(`{}`), Headers: old},
		reason: errors.New("still refused"), stage: StageSink, flow: "index", pipeline: "shop",
		read: &recordRef{topic: "shop.index.redrive", partition: 0, offset: 9},
	})
	h := headerMap(t, msg)
	want := map[string]string{"trace": "t1", "sluice.redrive.of": "shop.dlq/0@4", HeaderErrorFirstFailure: firstFailure,
		HeaderErrorAttempts: "3", HeaderErrorReason: "still refused", HeaderErrorStage: StageSink, HeaderErrorClass: ErrorClassRejected,
		HeaderErrorTopic: "shop.index.redrive", HeaderErrorOffset: "9"}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
	if len(old) != 10 || string(old[1].Value) != "the old reason" {
		t.Errorf("the record's headers were changed in place: %v", old)
	}

	// An unreadable earlier lineage counts as none.
	msg = deadLetterMessage(deadLetter{msg: kafka.Message{Headers: []sarama.RecordHeader{
		hdr(HeaderErrorFirstFailure, "yesterday"), hdr(HeaderErrorAttempts, "-4")}},
		reason: errors.New("x"), stage: StageDecode, flow: "f"})
	if h := headerMap(t, msg); h[HeaderErrorAttempts] != "1" || h[HeaderErrorFirstFailure] == "yesterday" {
		t.Errorf("unreadable lineage: attempts %q, first failure %q", h[HeaderErrorAttempts], h[HeaderErrorFirstFailure])
	}
}

// Every path's class.
func TestErrorClassOfEveryPath(t *testing.T) {
	for _, c := range []struct {
		d    deadLetter
		want string
	}{
		{deadLetter{stage: StageDecode, reason: errors.New("decode value with json: bad")}, ErrorClassDecode},
		{deadLetter{stage: "check", reason: &stageError{stage: "check", err: errors.New("no")}}, ErrorClassStage},
		{deadLetter{stage: "encode", source: "cdc", reason: errors.New("encode value with avro: incompatible")}, ErrorClassEncode},
		{deadLetter{stage: StageProduce, source: "files", reason: &recordTooLargeError{topic: "t", size: 9, limit: 1}}, ErrorClassOversize},
		{deadLetter{stage: StageSink, reason: errors.New("status 400 mapper_parsing_exception")}, ErrorClassRejected},
		{deadLetter{stage: StageSink, reason: withClass(ErrorClassEncode, errors.New("encode value with avro: incompatible"))}, ErrorClassEncode},
		{deadLetter{stage: "with-customer", class: ErrorClassStep, reason: errors.New("foreign key")}, ErrorClassStep},
	} {
		if got := errorClass(c.d); got != c.want {
			t.Errorf("stage %q reason %q: class %q, want %q", c.d.stage, c.d.reason, got, c.want)
		}
	}
}

// A reason holds neither a connection secret nor a quoted fragment of the record's value; keys and
// document ids stay, and so do short fragments. A sink's extra headers hold no secret either.
func TestDeadLetterReasonWithholdsSecretsAndValue(t *testing.T) {
	secret.Register("hunter2-lineage")
	value := []byte(`{"id":"doc-17","amount":"abc-secret-value","note":"it's \"quoted\""}`)
	for _, c := range []struct{ reason, want string }{
		{`failed to parse field [amount] in document with id 'doc-17'. Preview of field's value: 'abc-secret-value'`,
			`failed to parse field [amount] in document with id 'doc-17'. Preview of field's value: '…'`},
		{`stage "check": amount "abc-secret-value" is not a number`, `stage "check": amount "…" is not a number`},
		{"invalid character 'a' looking for beginning of value", "invalid character 'a' looking for beginning of value"},
		{`dial mysql://cdc:hunter2-lineage@db:3306/shop: refused`, `dial mysql://cdc:****@db:3306/shop: refused`},
		{`lookup: open cdc:pw-not-registered@tcp(db:3306)/shop: refused`, `lookup: open cdc:****@tcp(db:3306)/shop: refused`},
		{`GET http://es:pw-not-registered@es:9200/x: 401`, `GET http://es:****@es:9200/x: 401`},
		{"value `abc-secret-value` and 'amount'", "value `…` and 'amount'"},
		{"note 'it's' is not allowed", "note '…' is not allowed"},
		{"bad record map[amount:abc-secret-value id:doc-17]", "bad record map[amount:… id:doc-17]"},
	} {
		d := deadLetter{msg: kafka.Message{Key: []byte(`"doc-17"`), Value: value}, reason: errors.New(c.reason), stage: "check", flow: "f",
			extra: []stream.Header{{Key: "sluice.errors.es.url", Value: []byte("http://u:hunter2-lineage@es:9200")}}}
		if got := reasonText(d); got != c.want {
			t.Errorf("reason %q\n got  %q\n want %q", c.reason, got, c.want)
		}
		h := headerMap(t, deadLetterMessage(d))
		if strings.Contains(fmt.Sprint(h), "hunter2-lineage") || strings.Contains(fmt.Sprint(h), "abc-secret-value") {
			t.Errorf("headers hold a secret or the value: %v", h)
		}
	}
}
