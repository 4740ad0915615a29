package peers

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// searchPollInterval is how often the end-to-end phase asks the search engine for the rows not found yet.
const searchPollInterval = 2 * time.Millisecond

// pollWindow is how many of the oldest rows in flight each 2 ms poll asks for; fullPollInterval is how often
// a poll asks for every row in flight.
const (
	pollWindow       = 32
	fullPollInterval = 100 * time.Millisecond
)

// notFoundAfter is how long after its commit a row may take to become readable before it counts as lost.
const notFoundAfter = 30 * time.Second

// searchProbe asks the search engine which documents of an index exist. It uses _mget (real-time, as GET by
// id: it reads the translog, no refresh needed) for many ids at once, so that the polling load stays one
// request per poll however many rows are in flight.
type searchProbe struct {
	url, index string
	client     *http.Client
}

func newSearchProbe(url, index string) *searchProbe {
	return &searchProbe{url: url, index: index, client: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}}
}

// found returns the ids among ids whose documents exist (none while the index does not exist).
func (p *searchProbe) found(ctx context.Context, ids []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string][]string{"ids": ids})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/"+p.index+"/_mget?_source=false&realtime=true",
		bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil // no index yet
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s/_mget: HTTP %d: %.300s", p.index, resp.StatusCode, data)
	}
	var r struct {
		Docs []struct {
			ID    string `json:"_id"`
			Found bool   `json:"found"`
		} `json:"docs"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("POST %s/_mget: %w", p.index, err)
	}
	var out []string
	for _, d := range r.Docs {
		if d.Found {
			out = append(out, d.ID)
		}
	}
	return out, nil
}

// waitSearchMarker inserts a marker row into table every 2 s until one of them is readable in the index: the
// tool then streams into the search engine (a row committed before the tool reached the binlog's end would
// never arrive, hence several).
func waitSearchMarker(ctx context.Context, db *sql.DB, table string, probe *searchProbe, docID func(int64) string) error {
	var ids []string
	var last time.Time
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for k := 0; ; {
		if time.Since(last) >= 2*time.Second {
			k++
			if err := insertMarker(ctx, db, table, k); err != nil {
				return fmt.Errorf("insert marker row %d: %w", k, err)
			}
			last = time.Now()
			ids = append(ids, docID(int64(markerBaseID+k)))
		}
		if got, err := probe.found(ctx, ids); err == nil && len(got) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("none of %d marker rows readable in index %s: %w", len(ids), probe.index, ctx.Err())
		case <-tick.C:
		}
	}
}

// latencyResult is what the end-to-end load measured.
type latencyResult struct {
	LatenciesMs []float64 // commit -> readable, of each measured row found, sorted
	Measured    int       // rows committed after the warm-up
	NotFound    int       // measured rows not readable within notFoundAfter of their commit
	Committed   int       // every row committed, warm-up included
	CommitRate  float64   // rows committed per second over the load
}

// runSearchLoad commits single-row INSERTs into table at rate per second for warmup+seconds, and polls the
// index (every 2 ms one _mget of the oldest rows in flight, every 100 ms of all) until each row committed after the warm-up is readable
// or notFoundAfter has passed since its commit. Latency = the poll response that found it - the return of
// its INSERT (autocommit).
func runSearchLoad(ctx context.Context, db *sql.DB, table string, probe *searchProbe, docID func(int64) string,
	rate, warmup, seconds int, logf func(string, ...any)) (latencyResult, error) {
	var res latencyResult
	type pendingRow struct {
		id       string
		commitAt time.Time
	}
	var (
		mu       sync.Mutex
		pending  []pendingRow
		loadDone bool
	)
	var loadErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() { mu.Lock(); loadDone = true; mu.Unlock() }()
		rng := rand.New(rand.NewPCG(workloadSeed, 4))
		conn, err := db.Conn(ctx)
		if err != nil {
			loadErr = err
			return
		}
		defer conn.Close()
		insert := insert1(table)
		interval := time.Second / time.Duration(rate)
		began := time.Now()
		measureFrom := began.Add(time.Duration(warmup) * time.Second)
		end := measureFrom.Add(time.Duration(seconds) * time.Second)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for i := 0; ; i++ {
			at := began.Add(time.Duration(i) * interval) // the fixed schedule: a slow commit does not shift the next
			if !at.Before(end) {
				break
			}
			timer.Reset(time.Until(at))
			select {
			case <-ctx.Done():
				loadErr = ctx.Err()
				return
			case <-timer.C:
			}
			id := int64(i + 1)
			ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := conn.ExecContext(ictx, insert, rowValues(rng, id)...)
			cancel()
			if err != nil {
				loadErr = fmt.Errorf("insert id %d into %s: %w", id, table, err)
				return
			}
			commitAt := time.Now()
			mu.Lock()
			res.Committed++
			if !at.Before(measureFrom) {
				pending = append(pending, pendingRow{docID(id), commitAt})
				res.Measured++
			}
			mu.Unlock()
		}
		res.CommitRate = float64(res.Committed) / time.Since(began).Seconds()
	})
	var pollErr error
	lastLog, lastFull := time.Now(), time.Now()
	tick := time.NewTicker(searchPollInterval)
	defer tick.Stop()
	for {
		mu.Lock()
		batch := slices.Clone(pending)
		done, committed, measured, inFlight := loadDone, res.Committed, res.Measured, len(pending)
		mu.Unlock()
		if done && len(batch) == 0 {
			break
		}
		// Rows are polled oldest first, pollWindow at a time every 2 ms; every row in flight every 100 ms, so that
		// one readable out of order is found then, and the polling load stays bounded however many are in flight.
		if now := time.Now(); now.Sub(lastFull) >= fullPollInterval {
			lastFull = now
		} else if len(batch) > pollWindow {
			batch = batch[:pollWindow]
		}
		if len(batch) > 0 {
			ids := make([]string, len(batch))
			for i, r := range batch {
				ids[i] = r.id
			}
			got, err := probe.found(ctx, ids)
			now := time.Now()
			if err != nil {
				pollErr = err
				logf("end-to-end poll: %v", err)
			}
			foundSet := make(map[string]bool, len(got))
			for _, id := range got {
				foundSet[id] = true
			}
			var still []pendingRow
			for _, r := range batch {
				switch {
				case foundSet[r.id]:
					res.LatenciesMs = append(res.LatenciesMs, float64(now.Sub(r.commitAt).Microseconds())/1000)
				case now.Sub(r.commitAt) > notFoundAfter:
					res.NotFound++
				default:
					still = append(still, r)
				}
			}
			mu.Lock()
			pending = append(still, pending[len(batch):]...) // rows committed meanwhile are at the end
			mu.Unlock()
		}
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			logf("end-to-end: %d rows committed, %d readable, %d pending", committed, len(res.LatenciesMs), inFlight)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return res, fmt.Errorf("end-to-end load: %w (%d of %d measured rows readable)", ctx.Err(), len(res.LatenciesMs), measured)
		case <-tick.C:
		}
	}
	wg.Wait()
	slices.Sort(res.LatenciesMs)
	if loadErr != nil {
		return res, loadErr
	}
	if res.NotFound > 0 {
		return res, fmt.Errorf("%d of %d rows not readable within %s of their commit (last poll error: %v)", res.NotFound, res.Measured, notFoundAfter, pollErr)
	}
	return res, nil
}
