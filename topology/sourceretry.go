package topology

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// taskRetry follows one source task's consecutive transient failures (see sources.Transient): it decides
// whether the task retries, logs what it waits for, and waits kafka.RetryBackoff between attempts. The
// failures count as consecutive until a Read succeeds (succeeded); once they have lasted timeout (the
// pipeline's RetryTimeout) the task fails. While it retries, the source's stall tracking hears that the task
// waits for its input (so /readyz names it once StallTimeout passes without progress); the caller clears
// that once the task is open again. Used by one task goroutine only.
type taskRetry struct {
	log     *slog.Logger // names the source and task
	timeout time.Duration
	health  *component // the source's stall tracking (may be nil)
	holder  string     // the task key, as the task's ackTracker reports to health
	// lastError, when set, holds the last failure while the task retries, for the status (nil once it reads).
	lastError *atomic.Pointer[string]

	attempt               int
	failingSince, lastLog time.Time
}

// succeeded records that the task read again: the next failure starts a new retry clock and is logged.
func (t *taskRetry) succeeded() {
	if t == nil || t.attempt == 0 {
		return
	}
	if t.lastError != nil {
		t.lastError.Store(nil)
	}
	t.log.Info("source task reading again after transient failures", "attempts", t.attempt,
		"failed_for", time.Since(t.failingSince).Round(time.Millisecond))
	t.attempt, t.failingSince, t.lastLog = 0, time.Time{}, time.Time{}
}

// wait handles a failure of Open or Read (err already names the source, task and position). For an error
// marked transient, while the failures have lasted less than timeout, it logs a warning (on the first
// failure, then every retryLogEvery), waits the next backoff and returns nil: the caller opens the task
// again at pos. It returns ctx.Err() if ctx ends while waiting, and err itself (saying that retrying gave
// up, if it was transient) when the task must fail.
func (t *taskRetry) wait(ctx context.Context, pos stream.Position, err error) error {
	if !sources.IsTransient(err) {
		return err
	}
	now := time.Now()
	if t.failingSince.IsZero() {
		t.failingSince = now
	}
	if failing := now.Sub(t.failingSince); failing >= t.timeout {
		return fmt.Errorf("%w (gave up after retrying for %v, the RetryTimeout, in %d attempts)", err,
			failing.Round(time.Second), t.attempt)
	}
	t.attempt++
	if t.lastError != nil {
		text := err.Error()
		t.lastError.Store(&text)
	}
	t.health.wait(t.holder, fmt.Sprintf("task %s to reopen after a transient failure: %v", t.holder, err))
	if t.lastLog.IsZero() || now.Sub(t.lastLog) >= retryLogEvery {
		t.log.Warn("source task input unavailable: waiting for it to come back, then reopening the task at its saved position",
			"position", positionText(pos), "attempt", t.attempt, "failing_for", now.Sub(t.failingSince).Round(time.Second),
			"gives_up_after", t.timeout, "err", err)
		t.lastLog = now
	}
	if !kafka.RetryWait(ctx, t.attempt-1, time.Time{}) {
		return ctx.Err()
	}
	return nil
}

// open opens the task at pos, retrying transient failures as wait allows.
func (r *sourceRunner) open(ctx context.Context, h *taskHandle, pos stream.Position, retry *taskRetry) (sources.Reader, error) {
	for {
		reader, err := r.n.src.Open(ctx, h.task, pos)
		if err == nil {
			return reader, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		err = fmt.Errorf("source %q task %q: open at position %s: %w", r.n.name, h.task.Key, positionText(pos), err)
		if err := retry.wait(ctx, pos, err); err != nil {
			return nil, err
		}
	}
}
