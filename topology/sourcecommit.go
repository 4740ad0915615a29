package topology

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/sources"
	"github.com/sluicehq/sluice/stream"
)

// commitLogEvery bounds how often a task logs failures of its reader's Commit.
const commitLogEvery = 10 * time.Second

// commitHook hands a task's saved positions to its open reader when the reader implements
// sources.Committer, keeping that interface's promises: only positions of records that reader returned
// (the tracker's sequence numbers tell them apart from an earlier reader's), in order, never during or
// after Close, with a context that ends when the reader is about to be closed. Its methods are safe for
// the task's goroutine (open, close) and its position saver (saved).
type commitHook struct {
	log    *slog.Logger
	errors prometheus.Counter

	mu        sync.Mutex
	committer sources.Committer // the open reader; nil while none is open or it does not commit
	ctx       context.Context   // Commit's context: ends when close is called
	from      uint64            // sequence number of the open reader's first record
	failures  int               // Commit failures not yet logged
	logged    time.Time         // when the last failure was logged

	cancelMu sync.Mutex // held briefly, never during Commit, so that close can end a Commit under way
	cancel   context.CancelFunc
}

// open makes reader the one to hear about saved positions from the tracker's sequence number from on: the
// number of records the tracker registered before reader was opened.
func (c *commitHook) open(reader sources.Reader, from uint64) {
	committer, _ := reader.(sources.Committer)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancelMu.Lock()
	c.cancel = cancel
	c.cancelMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committer, c.ctx, c.from = committer, ctx, from
}

// close is called before the reader is closed: it ends the context of a Commit under way and waits for
// it to return.
func (c *commitHook) close() {
	c.cancelMu.Lock()
	if c.cancel != nil {
		c.cancel()
	}
	c.cancelMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committer = nil
}

// saved tells the open reader that pos, the position of the task's completed-th record, is durably saved,
// when that record is the reader's. A failure is logged (rate-limited) and counted; it stops nothing.
func (c *commitHook) saved(pos stream.Position, completed uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.committer == nil || completed == 0 || completed-1 < c.from {
		return
	}
	err := c.committer.Commit(c.ctx, pos)
	if err == nil || c.ctx.Err() != nil {
		return
	}
	c.errors.Inc()
	c.failures++
	if now := time.Now(); now.Sub(c.logged) >= commitLogEvery {
		c.log.Warn("the source could not commit a saved position upstream; the position stays saved, and the next commit or open reports it again",
			"position", positionText(pos), "failures", c.failures, "err", err)
		c.failures, c.logged = 0, now
	}
}

// savedState returns the HighestContiguousAck, the number of records completed up to it (the position is
// that of the record with sequence number completed-1; none when 0), and the first produce error.
func (t *ackTracker) savedState() (stream.Position, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.position, t.base, t.err
}

// next returns the sequence number the next record registered will get.
func (t *ackTracker) next() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.base + uint64(len(t.pending))
}
