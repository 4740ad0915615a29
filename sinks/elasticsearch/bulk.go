package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
)

// Headers the sink adds to a rejected record's dead letter.
const (
	HeaderIndex  = "sluice.errors.es.index"
	HeaderID     = "sluice.errors.es.id"
	HeaderStatus = "sluice.errors.es.status"
)

// Write sends the batch as bulk requests and returns when every record is acknowledged (or rejected as bad
// data, reported as *sinks.RejectedError).
func (s *Sink) Write(ctx context.Context, batch []stream.Record) error {
	if err := s.ensureMappings(ctx, batch); err != nil {
		return err
	}
	var rejected []sinks.Rejection
	latest := map[[2]string]int{}
	var actions []action
	for i := range batch {
		a, err := s.actionFor(i, &batch[i])
		if errors.Is(err, errNoDocument) {
			continue // a delete of a per-record id: nothing to write (see Config.ID)
		}
		if err != nil {
			rejected = append(rejected, sinks.Rejection{Index: i, Reason: err})
			continue
		}
		k := [2]string{a.index, a.id}
		if j, ok := latest[k]; ok && !s.cfg.Update {
			actions[j] = a // a later whole document supersedes the earlier one (partial updates add up: keep all)
			continue
		}
		latest[k] = len(actions)
		actions = append(actions, a)
	}

	// Spread documents over lanes by id: lanes run concurrently, each sends its requests one after another,
	// so a document is never in two requests at once.
	lanes := make([][]action, min(s.cfg.MaxRequests, max(len(actions), 1)))
	for _, a := range actions {
		h := fnv.New32a()
		h.Write([]byte(a.index + "/" + a.id))
		lane := int(h.Sum32() % uint32(len(lanes)))
		lanes[lane] = append(lanes[lane], a)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fatal error
	)
	for _, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rej, err := s.sendLane(ctx, lane)
			mu.Lock()
			defer mu.Unlock()
			rejected = append(rejected, rej...)
			if err != nil && fatal == nil {
				fatal = err
			}
		}()
	}
	wg.Wait()
	if fatal != nil {
		return fatal
	}
	if len(rejected) > 0 {
		s.stats.rejected.Add(int64(len(rejected)))
		return &sinks.RejectedError{Rejections: rejected}
	}
	return nil
}

func (s *Sink) actionFor(i int, r *stream.Record) (action, error) {
	a := action{record: i}
	var err error
	if a.index, err = s.indexFor(r); err != nil {
		return a, err
	}
	if a.id, err = s.id.idFor(r); err != nil {
		return a, err
	}
	if a.version, err = documentVersion(r); err != nil {
		return a, err
	}
	if r.Operation == stream.OpDelete || r.Value == nil {
		a.op = "delete"
		return a, nil
	}
	if schema, st := s.valueStruct(r); st != nil {
		if a.body, err = s.schemaDocument(schema, st, s.mappings.rawFields(a.index)); err != nil {
			return a, fmt.Errorf("value: %w", err)
		}
	} else if a.body, err = documentBody(s.json, r); err != nil {
		return a, err
	}
	a.op = "index"
	if s.cfg.Update {
		a.op = "update"
	}
	return a, nil
}

// retryable marks a failure worth sending again: a 429, a 5xx, or a broken connection.
type retryable struct{ err error }

func (e retryable) Error() string { return e.err.Error() }
func (e retryable) Unwrap() error { return e.err }

// sendLane sends one lane's actions in requests of at most MaxRequestBytes, retrying what Elasticsearch did
// not take with exponential backoff and jitter; the backoff grows while requests make no progress at all,
// and the lane gives up after RetryTimeout without progress, or as soon as ctx ends.
func (s *Sink) sendLane(ctx context.Context, queue []action) ([]sinks.Rejection, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 50 * time.Millisecond
	bo.MaxInterval = 5 * time.Second
	bo.MaxElapsedTime = s.cfg.RetryTimeout
	bo.Reset() // NewExponentialBackOff started the interval at its own default (500ms): start at ours
	var rejected []sinks.Rejection
	attempt := 1 // of the current request, counting from its first send without progress
	for len(queue) > 0 {
		n, body := s.encodeRequest(queue)
		again, rej, err := s.bulk(ctx, queue[:n], body)
		rejected = append(rejected, rej...)
		var r retryable
		switch {
		case err != nil && !errors.As(err, &r):
			return rejected, err
		case err == nil && len(again) == 0:
			queue = queue[n:]
			bo.Reset()
			attempt = 1
			continue
		case err != nil:
			again = queue[:n]
		case len(again) < n:
			bo.Reset() // some items went through: back off only while nothing does
		}
		if err == nil {
			err = fmt.Errorf("%d of %d items refused with 429 or 5xx", len(again), n)
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			return rejected, fmt.Errorf("elasticsearch sink: index %s at %s: gave up after retrying for %v (RetryTimeout) at attempt %d: %w",
				queue[0].index, s.hosts, s.cfg.RetryTimeout, attempt, err)
		}
		attempt++
		s.retrying(ctx, queue[0].index, len(again), attempt, wait, err)
		select {
		case <-ctx.Done():
			return rejected, ctx.Err()
		case <-time.After(wait):
		}
		s.stats.retries.Add(1)
		queue = append(append([]action(nil), again...), queue[n:]...)
	}
	return rejected, nil
}

// retryLogEvery is how often a sink that keeps retrying logs a warning after the first.
const retryLogEvery = 30 * time.Second

// retrying reports an upcoming retry to the engine (sinks.ReportRetry) and logs it: on a write's first
// failure and then at most every retryLogEvery for the whole sink, however many lanes retry.
func (s *Sink) retrying(ctx context.Context, index string, items, attempt int, wait time.Duration, err error) {
	sinks.ReportRetry(ctx, attempt, err)
	now := time.Now().UnixNano()
	last := s.lastRetryLog.Load()
	if attempt > 2 && now-last < int64(retryLogEvery) {
		return
	}
	if !s.lastRetryLog.CompareAndSwap(last, now) {
		return // another lane logs it
	}
	s.cfg.Logger.Warn("elasticsearch sink retrying: waiting for Elasticsearch to take a bulk request",
		"sink", "elasticsearch", "host", s.hosts, "index", index, "items", items, "attempt", attempt,
		"next_in", wait.Round(time.Millisecond).String(), "err", err)
}

// encodeRequest serialises as many actions from the front of queue as fit in MaxRequestBytes (at least one).
func (s *Sink) encodeRequest(queue []action) (int, []byte) {
	var buf bytes.Buffer
	n := 0
	for _, a := range queue {
		start := buf.Len()
		meta := map[string]any{"_index": a.index, "_id": a.id}
		if a.op != "update" {
			meta["version"] = a.version
			meta["version_type"] = "external"
		}
		line, _ := json.Marshal(map[string]any{a.op: meta})
		buf.Write(line)
		buf.WriteByte('\n')
		switch a.op {
		case "index":
			buf.Write(a.body)
			buf.WriteByte('\n')
		case "update":
			buf.WriteString(`{"doc":`)
			buf.Write(a.body)
			buf.WriteString(`,"doc_as_upsert":true}` + "\n")
		}
		if n > 0 && buf.Len() > s.cfg.MaxRequestBytes {
			buf.Truncate(start)
			break
		}
		n++
	}
	return n, buf.Bytes()
}

type bulkResponse struct {
	Errors bool                  `json:"errors"`
	Items  []map[string]bulkItem `json:"items"`
}

type bulkItem struct {
	Index  string `json:"_index"`
	ID     string `json:"_id"`
	Status int    `json:"status"`
	Result string `json:"result"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// bulk sends one request and sorts its items: acknowledged (including 409 "already newer" and deletes of
// absent documents), to send again (429, 5xx), rejected as bad data (400), or a failure of the sink.
func (s *Sink) bulk(ctx context.Context, actions []action, body []byte) (again []action, rejected []sinks.Rejection, err error) {
	reqCtx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	opts := []func(*esapi.BulkRequest){s.client.Bulk.WithContext(reqCtx)}
	if s.cfg.Refresh != "" {
		opts = append(opts, s.client.Bulk.WithRefresh(s.cfg.Refresh))
	}
	s.stats.requests.Add(1)
	res, err := s.client.Bulk(bytes.NewReader(body), opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, retryable{s.requestError("bulk request", reqCtx, err)}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, retryable{s.requestError("read bulk response", reqCtx, err)}
	}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
		return nil, nil, retryable{fmt.Errorf("elasticsearch sink: bulk request: %s: %.300s", res.Status(), raw)}
	}
	if res.IsError() {
		return nil, nil, fmt.Errorf("elasticsearch sink: bulk request: %s: %.500s", res.Status(), raw)
	}
	var resp bulkResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, nil, fmt.Errorf("elasticsearch sink: bulk response: %w", err)
	}
	if len(resp.Items) != len(actions) {
		return nil, nil, fmt.Errorf("elasticsearch sink: bulk response has %d items for %d operations", len(resp.Items), len(actions))
	}
	for i, a := range actions {
		var item bulkItem
		for _, it := range resp.Items[i] {
			item = it
		}
		switch {
		case item.Status == http.StatusOK || item.Status == http.StatusCreated:
			if a.op == "delete" {
				s.stats.deleted.Add(1)
			} else {
				s.stats.indexed.Add(1)
			}
		case item.Status == http.StatusNotFound && a.op == "delete":
			s.stats.deleted.Add(1)
		case item.Status == http.StatusConflict && a.op != "update" && item.Error != nil && item.Error.Type == "version_conflict_engine_exception":
			s.stats.conflicts.Add(1) // Elasticsearch already has this version or a newer one
		case item.Status == http.StatusTooManyRequests || item.Status >= 500 || (item.Status == http.StatusConflict && a.op == "update"):
			again = append(again, a)
		case item.Status == http.StatusBadRequest:
			rejected = append(rejected, sinks.Rejection{
				Index:  a.record,
				Reason: fmt.Errorf("%s", describe(item)),
				Headers: []stream.Header{
					{Key: HeaderIndex, Value: []byte(a.index)},
					{Key: HeaderID, Value: []byte(a.id)},
					{Key: HeaderStatus, Value: []byte(strconv.Itoa(item.Status))},
				},
			})
		default:
			return nil, nil, fmt.Errorf("elasticsearch sink: %s %s/%s: %s", a.op, a.index, a.id, describe(item))
		}
	}
	return again, rejected, nil
}

func describe(item bulkItem) string {
	if item.Error == nil {
		return fmt.Sprintf("status %d", item.Status)
	}
	return fmt.Sprintf("status %d %s: %s", item.Status, item.Error.Type, item.Error.Reason)
}

// requestError describes a failed request; one that ran out of RequestTimeout (the request's deadline or
// the transport's wait for response headers) says so in those words.
func (s *Sink) requestError(what string, reqCtx context.Context, err error) error {
	var netErr net.Error
	if errors.Is(reqCtx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Errorf("elasticsearch sink: %s to %s: no answer within %v (RequestTimeout): %w", what, s.hosts, s.cfg.RequestTimeout, err)
	}
	return fmt.Errorf("elasticsearch sink: %s to %s: %w", what, s.hosts, err)
}
