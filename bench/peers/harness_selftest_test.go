package peers

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// selftestName is the harness's own test tool: registered only when PEERS_TOOLS names it, never part of a
// normal run. It copies rows in this process (a SELECT for the snapshot, go-mysql's binlog reader for
// changes, a sarama producer with acks=all) so that the harness can be exercised without any peer.
const selftestName = "selftest"

func init() {
	if slices.Contains(splitList(os.Getenv(toolsEnv)), selftestName) {
		register(&selftestTool{positions: map[string]mysql.Position{}})
	}
}

type selftestTool struct {
	mu        sync.Mutex
	positions map[string]mysql.Position // saved by Stop, per RunSpec.Name
}

func (*selftestTool) Name() string { return selftestName }

func (*selftestTool) Describe() Description {
	return Description{Version: "the harness's self-test tool (go-mysql binlog reader + sarama, in the test process)",
		Guarantee: "at-least-once, acks=all", Format: "JSON: op, id, row values",
		Notes: "Runs inside the test binary: its CPU and memory figures include the harness and every server the test started (MariaDB, Kafka, OpenSearch are the test binary's children)."}
}

func (*selftestTool) Supports(Phase) (bool, string) { return true, "" }

func (*selftestTool) Prepare(context.Context, *Env) error { return nil }

func (s *selftestTool) Start(ctx context.Context, env *Env, spec RunSpec) (Running, error) {
	conf := sarama.NewConfig()
	conf.Version = sarama.V4_0_0_0
	conf.Producer.RequiredAcks = sarama.WaitForAll
	conf.Producer.Return.Successes = true
	conf.Producer.Flush.Messages = 500
	conf.Producer.Flush.Frequency = 5 * time.Millisecond
	conf.Net.DialTimeout, conf.Net.ReadTimeout, conf.Net.WriteTimeout = 5*time.Second, 30*time.Second, 30*time.Second
	client, err := sarama.NewClient(env.Brokers, conf)
	if err != nil {
		return nil, err
	}
	r := &selftestRun{tool: s, env: env, spec: spec, client: client, done: make(chan struct{})}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, err
	}
	for _, table := range spec.Tables {
		err := admin.CreateTopic(r.Topic(table), &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			client.Close()
			return nil, fmt.Errorf("selftest: create topic %s: %w", r.Topic(table), err)
		}
	}
	if r.producer, err = sarama.NewSyncProducerFromClient(client); err != nil {
		client.Close()
		return nil, err
	}
	if r.db, err = sql.Open("mysql", env.MySQL.DSN+env.MySQL.Database); err != nil {
		return nil, err
	}
	s.mu.Lock()
	pos, resume := s.positions[spec.Name]
	s.mu.Unlock()
	if spec.Resume && !resume {
		return nil, fmt.Errorf("selftest: no saved position for %s", spec.Name)
	}
	if !spec.Resume {
		if pos, err = binlogEnd(ctx, r.db); err != nil {
			return nil, err
		}
	}
	r.pos = pos
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.err = r.run(runCtx)
	}()
	return r, nil
}

// binlogEnd is the server's current binlog position.
func binlogEnd(ctx context.Context, db *sql.DB) (mysql.Position, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return mysql.Position{}, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return mysql.Position{}, errors.New("selftest: SHOW MASTER STATUS returned no row")
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return mysql.Position{}, err
	}
	p, _ := strconv.ParseUint(string(vals[1]), 10, 32)
	return mysql.Position{Name: string(vals[0]), Pos: uint32(p)}, nil
}

type selftestRun struct {
	tool     *selftestTool
	env      *Env
	spec     RunSpec
	client   sarama.Client
	producer sarama.SyncProducer
	db       *sql.DB
	pos      mysql.Position
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
}

func (r *selftestRun) Topic(table string) string { return "selftest." + r.spec.Name + "." + table }
func (r *selftestRun) Processes() []int          { return []int{os.Getpid()} }
func (r *selftestRun) DocID(id int64) string     { return strconv.FormatInt(id, 10) }

func (r *selftestRun) Stop(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.tool.mu.Lock()
	r.tool.positions[r.spec.Name] = r.pos
	r.tool.mu.Unlock()
	r.producer.Close()
	r.client.Close()
	r.db.Close()
	if r.err != nil && !errors.Is(r.err, context.Canceled) {
		return r.err
	}
	return nil
}

func (r *selftestRun) run(ctx context.Context) error {
	if r.spec.Snapshot {
		for _, table := range r.spec.Tables {
			if err := r.snapshot(ctx, table); err != nil {
				r.env.Logf("snapshot: %v", err)
				return err
			}
		}
	}
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: r.spec.ServerID, Flavor: "mariadb",
		Host: r.env.MySQL.Host, Port: uint16(r.env.MySQL.Port), User: r.env.MySQL.User, Password: r.env.MySQL.Password,
		ReadTimeout: time.Minute, HeartbeatPeriod: 10 * time.Second})
	defer syncer.Close()
	streamer, err := syncer.StartSync(r.pos)
	if err != nil {
		return err
	}
	file := r.pos.Name
	var batch []*sarama.ProducerMessage
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				r.env.Logf("binlog: %v", err)
			}
			return err
		}
		switch e := ev.Event.(type) {
		case *replication.RotateEvent:
			file = string(e.NextLogName)
			r.pos = mysql.Position{Name: file, Pos: uint32(e.Position)}
		case *replication.RowsEvent:
			table := string(e.Table.Table)
			if string(e.Table.Schema) != r.env.MySQL.Database || !slices.Contains(r.spec.Tables, table) {
				continue
			}
			kind := ev.Header.EventType.String()
			op, step := "c", 1
			switch {
			case strings.Contains(kind, "Update") || strings.Contains(kind, "UPDATE"):
				op, step = "u", 2
			case strings.Contains(kind, "Delete") || strings.Contains(kind, "DELETE"):
				op = "d"
			}
			for i := step - 1; i < len(e.Rows); i += step {
				row := make([]any, len(e.Rows[i]))
				for j, v := range e.Rows[i] {
					if b, ok := v.([]byte); ok {
						v = string(b)
					}
					row[j] = v
				}
				value, _ := json.Marshal(map[string]any{"op": op, "row": row})
				id := fmt.Sprint(row[0])
				batch = append(batch, &sarama.ProducerMessage{Topic: r.Topic(table), Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(value)})
				if r.spec.Index != "" && op == "c" {
					doc, _ := json.Marshal(map[string]string{"id": id, "c_varchar": fmt.Sprint(row[4])})
					if err := r.index(ctx, id, doc); err != nil {
						r.env.Logf("index: %v", err)
						return err
					}
				}
			}
		case *replication.XIDEvent:
			if len(batch) > 0 {
				if err := r.producer.SendMessages(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
			r.pos = mysql.Position{Name: file, Pos: ev.Header.LogPos}
		}
	}
}

func (r *selftestRun) index(ctx context.Context, id string, doc []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, r.env.SearchURL+"/"+r.spec.Index+"/_doc/"+id, bytes.NewReader(doc))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("selftest: PUT %s/_doc/%s: HTTP %d", r.spec.Index, id, resp.StatusCode)
	}
	return nil
}

func (r *selftestRun) snapshot(ctx context.Context, table string) error {
	rows, err := r.db.QueryContext(ctx, "SELECT * FROM `"+table+"` ORDER BY id")
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var batch []*sarama.ProducerMessage
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make([]any, len(cols))
		for i, v := range vals {
			if v.Valid {
				row[i] = v.String
			}
		}
		value, _ := json.Marshal(map[string]any{"op": "r", "row": row})
		batch = append(batch, &sarama.ProducerMessage{Topic: r.Topic(table), Key: sarama.StringEncoder(vals[0].String), Value: sarama.ByteEncoder(value)})
		if len(batch) == 1000 {
			if err := r.producer.SendMessages(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return r.producer.SendMessages(batch)
	}
	return nil
}
