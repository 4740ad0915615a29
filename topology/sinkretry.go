package topology

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/sluicehq/sluice/sinks"
	"github.com/sluicehq/sluice/stream"
)

// Sink retries, for any sink: a Write that fails with an error marked sinks.Retryable is written again, the
// same batch, after an exponential backoff with jitter, until it succeeds or the failures have lasted the
// pipeline's RetryTimeout. Each retry is counted in sluice_sink_retries_total, shown in the flow's stall
// tracking (what the batcher waits for, with the attempt and the error) and logged as a warning on the
// first failure of a batch and then every retryLogEvery. Every attempt's duration, failed or not, is observed
// in sluice_sink_write_seconds. A rejection (sinks.RejectedError) and an unmarked
// error end the retries at once, and so does the write context (a rebalance or a stop after the drain).

// Backoff between sink write attempts; variables so that tests may shorten them.
var (
	sinkRetryInitial = 200 * time.Millisecond
	sinkRetryMax     = 10 * time.Second
)

// writeRetrying writes records with ctx (writeCtx plus the retry reporter), retrying retryable errors as
// described above. what names the write for stall tracking ("sink write of 3 records to ...").
func (r *sinkRunner) writeRetrying(ctx, writeCtx context.Context, records []stream.Record, what string) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = sinkRetryInitial, sinkRetryMax, 0
	var failingSince, lastLog time.Time
	for attempt := 1; ; attempt++ {
		started := time.Now()
		err := r.sink.Write(ctx, records)
		r.p.metrics.SinkWriteSeconds.WithLabelValues(r.labels...).Observe(time.Since(started).Seconds())
		var rej *sinks.RejectedError
		if err == nil && attempt > 1 {
			r.setRetryError(nil)
		}
		if err == nil || writeCtx.Err() != nil || !sinks.IsRetryable(err) || errors.As(err, &rej) {
			if attempt > 1 && err == nil {
				r.p.log.Info("sink writing again after retryable failures", "flow", r.f.name, "sink", r.sinkName,
					"attempts", attempt, "failed_for", time.Since(failingSince).Round(time.Millisecond))
			}
			return err
		}
		now := time.Now()
		if failingSince.IsZero() {
			failingSince = now
		}
		timeout := r.p.cfg.RetryTimeout
		if failing := now.Sub(failingSince); failing >= timeout {
			return fmt.Errorf("%w (gave up after retrying for %v, the RetryTimeout, in %d attempts)", err,
				failing.Round(time.Millisecond), attempt)
		}
		r.setRetryError(err)
		r.p.metrics.SinkRetries.WithLabelValues(r.labels...).Inc()
		r.health.wait(batcherHolder, fmt.Sprintf("%s (attempt %d: %v)", what, attempt+1, err))
		if lastLog.IsZero() || now.Sub(lastLog) >= retryLogEvery {
			r.p.log.Warn("sink unavailable: writing the batch again after a backoff", "flow", r.f.name,
				"sink", r.sinkName, "records", len(records), "attempt", attempt+1,
				"failing_for", now.Sub(failingSince).Round(time.Millisecond), "gives_up_after", timeout, "err", err)
			lastLog = now
		}
		wait := b.NextBackOff()
		if left := timeout - now.Sub(failingSince); wait > left {
			wait = left // one last attempt when the RetryTimeout ends
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-writeCtx.Done():
			t.Stop()
			return err
		}
	}
}

// setRetryError records the error of a write being retried, for the status ("" for nil).
func (r *sinkRunner) setRetryError(err error) {
	text := ""
	if err != nil {
		text = err.Error()
	}
	r.mu.Lock()
	r.retryError = text
	r.mu.Unlock()
}
