package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/sluicehq/sluice/sources/mysql"
	"github.com/sluicehq/sluice/stream"
)

// RepairConfig says where to send the repairs.
type RepairConfig struct {
	// Brokers are the pipeline's Kafka brokers ("host:port").
	Brokers []string
	// Topic is the pipeline's source topic of the table (default: the MySQL source's topic,
	// "<TopicPrefix>.<db>.<table>").
	Topic string
	// Timeout bounds connecting to Kafka and producing the records (default 30s).
	Timeout time.Duration
	// Wait, when positive, is how long to wait after producing until the repaired documents verify clean
	// (polled every PollInterval, default 500ms).
	Wait, PollInterval time.Duration
}

// RepairResult says what Repair sent.
type RepairResult struct {
	// Reread is the number of rows re-emitted as read events; Deleted the number of keys deleted (a delete
	// event and its tombstone each).
	Reread  int `json:"reread"`
	Deleted int `json:"deleted"`
	// Unrepairable are the ids of extra documents whose key is unknown (their id does not split into the
	// table's key): nothing was sent for them.
	Unrepairable []string `json:"unrepairable,omitempty"`
	// Clean is set when RepairConfig.Wait was given and the repaired documents verified clean in time;
	// Remaining are the differences still there when the wait ended.
	Clean     bool         `json:"clean"`
	Remaining []Difference `json:"remaining,omitempty"`
	Seconds   float64      `json:"seconds"`
}

// ErrNotRepaired is wrapped by Repair's error when RepairConfig.Wait ended with differences left.
var ErrNotRepaired = errors.New("the index still differs after the wait")

// Repair sends the rows of rep's differences through the pipeline again (see the package documentation):
// the current state of each row as a read event, and a delete event with a tombstone for each extra
// document whose row does not exist. It never writes to the index. With rc.Wait it then waits until a
// re-check of those documents is clean; an error wrapping ErrNotRepaired says it was not in time.
func (v *Verifier) Repair(ctx context.Context, rep *Report, rc RepairConfig) (*RepairResult, error) {
	start := time.Now()
	if len(rc.Brokers) == 0 {
		return nil, errors.New("verify: repair: no Kafka brokers: give the pipeline's brokers")
	}
	if rc.Topic == "" {
		rc.Topic = v.rows.Topic()
	}
	if rc.Timeout <= 0 {
		rc.Timeout = 30 * time.Second
	}
	if rc.PollInterval <= 0 {
		rc.PollInterval = 500 * time.Millisecond
	}
	res := &RepairResult{}
	var keys []mysql.RowKey
	var cands []candidate
	for _, d := range rep.Differences {
		if len(d.Key) == 0 {
			res.Unrepairable = append(res.Unrepairable, d.ID)
			continue
		}
		keys = append(keys, d.Key)
		cands = append(cands, candidate{id: d.ID, key: d.Key})
	}
	var recs []stream.Record
	for start := 0; start < len(keys); start += v.cfg.ChunkSize {
		batch := keys[start:min(start+v.cfg.ChunkSize, len(keys))]
		rows, err := v.rows.Read(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("verify: repair: %w", err)
		}
		present := map[string]bool{}
		for _, r := range rows {
			k, err := v.rows.KeyOf(r)
			if err != nil {
				return nil, err
			}
			present[k.String()] = true
		}
		recs = append(recs, rows...)
		res.Reread += len(rows)
		for _, k := range batch {
			if present[k.String()] {
				continue
			}
			del, err := v.rows.Deleted(ctx, k)
			if err != nil {
				return nil, fmt.Errorf("verify: repair: %w", err)
			}
			recs = append(recs, del...)
			res.Deleted++
		}
	}
	if err := v.produce(ctx, rc, recs); err != nil {
		return nil, err
	}
	v.cfg.Logger.Info("verify: repair sent", "topic", rc.Topic, "reread", res.Reread, "deleted", res.Deleted,
		"unrepairable", len(res.Unrepairable))
	if rc.Wait > 0 && len(cands) > 0 {
		deadline := time.Now().Add(rc.Wait)
		for {
			left, _, err := v.check(ctx, cands)
			if err != nil {
				return nil, err
			}
			res.Remaining = left
			if len(left) == 0 {
				res.Clean = true
				break
			}
			if time.Now().After(deadline) {
				res.Seconds = time.Since(start).Seconds()
				return res, fmt.Errorf("verify: repair: %w: %d document(s) after %v (is the pipeline running?)", ErrNotRepaired, len(left), rc.Wait)
			}
			t := time.NewTimer(rc.PollInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	} else if rc.Wait > 0 {
		res.Clean = len(res.Unrepairable) == 0
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// produce sends recs to rc.Topic with the topic's codecs, keyed as the source keys them (Kafka's murmur2
// partitioner, as the engine's producers), and waits until Kafka acknowledged every one.
func (v *Verifier) produce(ctx context.Context, rc RepairConfig, recs []stream.Record) error {
	if len(recs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, rc.Timeout)
	defer cancel()
	auth, err := kafka.AuthFromEnv() // TLS and SASL: SLUICE_KAFKA_*, as the pipeline's
	if err != nil {
		return fmt.Errorf("verify: repair: %w", err)
	}
	cfg := kafka.StartupConfig(kafka.SaramaConfig(kafka.Settings{Brokers: rc.Brokers, ClientID: "sluice-verify", RetryTimeout: rc.Timeout, Auth: auth}), rc.Timeout)
	p, err := kafka.Within(ctx, rc.Timeout, rc.Brokers, "connect the repair producer", func() (*kafka.Producer, error) {
		return kafka.NewProducer(rc.Brokers, cfg)
	}, func(p *kafka.Producer) { p.Close() })
	if err != nil {
		return fmt.Errorf("verify: repair: %w", err)
	}
	acks := make(chan error, len(recs))
	sent := 0
	var sendErr error
	for _, rec := range recs {
		key, err := v.keyCodec.Encode(rec.KeySchema, rec.Key)
		if err != nil {
			sendErr = fmt.Errorf("verify: repair: topic %s: encode key with %s: %w", rc.Topic, v.keyCodec.Name(), err)
			break
		}
		value, err := v.valCodc.Encode(rec.ValueSchema, rec.Value)
		if err != nil {
			sendErr = fmt.Errorf("verify: repair: topic %s: encode value with %s: %w", rc.Topic, v.valCodc.Name(), err)
			break
		}
		m := kafka.Message{Topic: rc.Topic, Key: key, Value: value, Timestamp: rec.Timestamp}
		for _, h := range rec.Headers { // the source's sluice.version among them: the repair's document version
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if err := p.Send(ctx, m, func(_ int32, _ int64, err error) { acks <- err }); err != nil {
			sendErr = fmt.Errorf("verify: repair: topic %s: %w", rc.Topic, err)
			break
		}
		sent++
	}
	p.Close() // flushes and waits for every ack callback
	for range sent {
		if err := <-acks; err != nil && sendErr == nil {
			sendErr = fmt.Errorf("verify: repair: %w", err)
		}
	}
	return sendErr
}
