package opsapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The states of a dead letter, as GET /pipelines/{name}/dlq/records reports them.
const (
	// DeadLetterPending: set aside and not yet redriven successfully; a replay selects it.
	DeadLetterPending = "PENDING"
	// DeadLetterReplaying: a replay re-injected it and the flow has not yet written it nor set it aside again.
	DeadLetterReplaying = "REPLAYING"
	// DeadLetterDone: a replay re-injected it and the sink acknowledged it.
	DeadLetterDone = "DONE"
	// DeadLetterFailedAgain: a replay re-injected it and it failed again; the newer dead letter (with its
	// attempts raised) replaces it, named by SupersededBy.
	DeadLetterFailedAgain = "FAILED_AGAIN"
	// DeadLetterQuarantined: its attempts reached the pipeline's limit; a replay selects it only when asked
	// to include quarantined records.
	DeadLetterQuarantined = "QUARANTINED"
)

// DLQSummary is the answer of GET /pipelines/{name}/dlq: every dead-letter topic of the pipeline (its
// flows' and its sources'), as Kafka holds it when the request is answered.
type DLQSummary struct {
	Pipeline string `json:"pipeline"`
	// MaxAttempts is the limit at which a dead letter is quarantined (SLUICE_DLQ_MAX_ATTEMPTS).
	MaxAttempts int             `json:"max_attempts"`
	Topics      []DLQTopicCount `json:"topics"`
}

// DLQTopicCount counts the dead letters of one topic. Records = Pending + Replaying + Done + FailedAgain +
// Quarantined.
type DLQTopicCount struct {
	Topic string `json:"topic"`
	// Records is every dead letter the topic holds.
	Records int `json:"records"`
	// Pending are not yet redriven successfully (not done, not replaced by a newer dead letter, not
	// quarantined), in flight or not; Replaying is the part of them a replay re-injected and the flow
	// has not yet finished.
	Pending     int `json:"pending"`
	Replaying   int `json:"replaying"`
	Done        int `json:"done"`
	FailedAgain int `json:"failed_again"`
	Quarantined int `json:"quarantined"`
	// ByStage and ByClass count the open dead letters (pending and quarantined) by HeaderErrorStage and
	// HeaderErrorClass ("" when the record carries none).
	ByStage map[string]int `json:"by_stage"`
	ByClass map[string]int `json:"by_class"`
}

// DLQFilter selects dead letters: GET /pipelines/{name}/dlq/records takes it as query parameters
// (topic, stage, error, since, until, limit), POST /pipelines/{name}/dlq/replay as its JSON body. Empty
// fields select everything.
type DLQFilter struct {
	// Topic is a dead-letter topic of the pipeline.
	Topic string `json:"topic,omitempty"`
	// Stage is the stage the record failed in (exactly), e.g. "decode", "sink" or a stage's name.
	Stage string `json:"stage,omitempty"`
	// Error is a substring of the failure's reason.
	Error string `json:"error,omitempty"`
	// Since and Until bound when the record was set aside (the dead letter's Kafka timestamp): Since
	// inclusive, Until exclusive.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Limit is the most records selected, oldest first; 0 is no limit.
	Limit int `json:"limit,omitempty"`
	// IncludeQuarantined makes a replay select quarantined records too (POST only; the records list shows
	// them always).
	IncludeQuarantined bool `json:"include_quarantined,omitempty"`
}

// Query is f as the query parameters of GET /pipelines/{name}/dlq/records.
func (f DLQFilter) Query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("topic", f.Topic)
	set("stage", f.Stage)
	set("error", f.Error)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// DeadLetterRecord is one dead letter: where it is, its lineage headers, its key and its state. Its value
// is there only when asked for (?values=true): it is the user's data and may be sensitive.
type DeadLetterRecord struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	// Key is the record's key as text, or base64 (KeyEncoding "base64") when it is not valid UTF-8.
	Key         string `json:"key,omitempty"`
	KeyEncoding string `json:"key_encoding,omitempty"`
	// Value (with ?values=true only) is as Key.
	Value         *string `json:"value,omitempty"`
	ValueEncoding string  `json:"value_encoding,omitempty"`

	Pipeline     string `json:"pipeline,omitempty"`
	Flow         string `json:"flow,omitempty"`
	Source       string `json:"source,omitempty"`
	Stage        string `json:"stage"`
	Class        string `json:"class,omitempty"`
	Reason       string `json:"reason"`
	FirstFailure string `json:"first_failure,omitempty"`
	Attempts     int    `json:"attempts"`
	// OriginTopic, OriginPartition and OriginOffset say where the record was read (a flow's record);
	// Position is its source position (a source's record).
	OriginTopic     string `json:"origin_topic,omitempty"`
	OriginPartition int32  `json:"origin_partition"`
	OriginOffset    int64  `json:"origin_offset"`
	Position        string `json:"position,omitempty"`

	State string `json:"state"`
	// Replaces names the older dead letter (topic/partition@offset) this one replaces: the same record,
	// failed again after a replay; SupersededBy names the newer one replacing this one.
	Replaces     string `json:"replaces,omitempty"`
	SupersededBy string `json:"superseded_by,omitempty"`
	// Redrive is the id of the last replay that re-injected it.
	Redrive string `json:"redrive,omitempty"`
}

// DLQRecords is the answer of GET /pipelines/{name}/dlq/records.
type DLQRecords struct {
	Pipeline string             `json:"pipeline"`
	Records  []DeadLetterRecord `json:"records"`
}

// DLQReplay is the answer of POST /pipelines/{name}/dlq/replay (202): what the replay re-injected and
// what the filter matched but the replay left alone. A flow's records are REPLAYING in it (the flow
// finishes them later); a source's are replayed before the answer, DONE or FAILED_AGAIN.
type DLQReplay struct {
	Pipeline string    `json:"pipeline"`
	ID       string    `json:"id"`
	Started  time.Time `json:"started"`
	// Selected is how many records were re-injected; Records are they (lineage and key, no value).
	Selected int                `json:"selected"`
	Records  []DeadLetterRecord `json:"records"`
	// Skipped counts the matching records left alone: "quarantined" (without include_quarantined),
	// "replaying" (a replay's re-injection still in flight), "not_redrivable" (set aside by a stateful
	// step, or by a source that sends each record to the topic it names: not supported).
	Skipped map[string]int `json:"skipped,omitempty"`
}

// DLQPath is "/pipelines/{name}/dlq" followed by sub ("", "records" or "replay").
func DLQPath(name, sub string) string {
	if sub == "" {
		return PipelinePath(name, "dlq")
	}
	return PipelinePath(name, "dlq/"+sub)
}

// DLQ is GET /pipelines/{name}/dlq.
func (c *Client) DLQ(ctx context.Context, name string) (DLQSummary, error) {
	var out DLQSummary
	err := c.do(ctx, http.MethodGet, DLQPath(name, ""), nil, nil, &out)
	return out, err
}

// DLQRecords is GET /pipelines/{name}/dlq/records with f as its query; values asks for the records' values.
func (c *Client) DLQRecords(ctx context.Context, name string, f DLQFilter, values bool) (DLQRecords, error) {
	var out DLQRecords
	q := f.Query()
	if values {
		q.Set("values", "true")
	}
	err := c.do(ctx, http.MethodGet, DLQPath(name, "records"), q, nil, &out)
	return out, err
}

// DLQReplay is POST /pipelines/{name}/dlq/replay: it re-injects the dead letters f selects.
func (c *Client) DLQReplay(ctx context.Context, name string, f DLQFilter) (DLQReplay, error) {
	var out DLQReplay
	err := c.do(ctx, http.MethodPost, DLQPath(name, "replay"), nil, f, &out)
	return out, err
}
