package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/stream"
	"github.com/spf13/cobra"
)

// tailOptions are `sluice tail`'s flags.
type tailOptions struct {
	kafka    kafkaFlags
	codec    string
	keyCodec string
	follow   bool
	from     string
	count    int
	output   string
	registry registryFlags // codecs that need a schema registry (avro): schemas.go
}

func tailCommand() *cobra.Command {
	var o tailOptions
	cmd := &cobra.Command{
		Use:   "tail TOPIC",
		Short: "Print a topic's records decoded: partition@offset, key, value and headers",
		Long: `Print a topic's records decoded with a codec, as a pipeline's topic decodes them.

Without -f the command reads up to the end each partition had when it started, then exits; with -f it
keeps following new records until Ctrl-C. --from beginning starts at each partition's first record,
--from end at its end (only records written from now on: use it with -f). -n stops after that many
records. Partitions are read at once; records of one partition print in offset order.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTail(cmd, args[0], o)
		},
	}
	o.kafka.register(cmd)
	o.registry.register(cmd)
	cmd.Flags().StringVar(&o.codec, "codec", "string", "value codec: "+strings.Join(stream.CodecNames(), ", "))
	cmd.Flags().StringVar(&o.keyCodec, "key-codec", "", "key codec (default: --codec)")
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new records until Ctrl-C")
	cmd.Flags().StringVar(&o.from, "from", "beginning", "where each partition starts: beginning or end")
	cmd.Flags().IntVarP(&o.count, "count", "n", 0, "stop after this many records (0: no limit)")
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table (one line per record, for people) or json (one JSON object per line)")
	return cmd
}

// tailRecord is a decoded record as -o json prints it.
type tailRecord struct {
	Topic     string          `json:"topic"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Timestamp time.Time       `json:"timestamp"`
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Headers   []tailHeader    `json:"headers,omitempty"`
}

type tailHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func runTail(cmd *cobra.Command, topic string, o tailOptions) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if o.keyCodec == "" {
		o.keyCodec = o.codec
	}
	valueCodec, err := stream.LookupCodec(o.codec)
	if err != nil {
		return fmt.Errorf("--codec %q: want one of %s", o.codec, strings.Join(stream.CodecNames(), ", "))
	}
	keyCodec, err := stream.LookupCodec(o.keyCodec)
	if err != nil {
		return fmt.Errorf("--key-codec %q: want one of %s", o.keyCodec, strings.Join(stream.CodecNames(), ", "))
	}
	jsonCodec, err := stream.LookupCodec("json")
	if err != nil {
		return err
	}
	if o.from != "beginning" && o.from != "end" {
		return fmt.Errorf("--from %q: want beginning or end", o.from)
	}
	if o.count < 0 {
		return fmt.Errorf("-n/--count %d: want 0 (no limit) or more", o.count)
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	if keyCodec, valueCodec, err = bindTailCodecs(ctx, topic, &o, keyCodec, valueCodec); err != nil {
		return err
	}
	client, addrs, err := o.kafka.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	parts, err := within(ctx, &o.kafka, addrs, "the partitions of "+topic, func() ([]int32, error) { return client.Partitions(topic) })
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("topic %s does not exist on Kafka at %s (sluice topics lists them)", topic, strings.Join(addrs, ","))
	}
	if err != nil {
		return fmt.Errorf("topic %s: %w", topic, err)
	}

	// Where each partition starts and, without -f, where it ends.
	type span struct {
		partition   int32
		start, stop int64
	}
	var spans []span
	for _, p := range parts {
		first, last, err := partitionBounds(ctx, &o.kafka, client, addrs, topic, p)
		if err != nil {
			return err
		}
		s := span{partition: p, start: first, stop: last}
		if o.from == "end" {
			s.start = last
		}
		if !o.follow && s.start >= s.stop {
			continue // nothing to read here
		}
		spans = append(spans, s)
	}
	if len(spans) == 0 {
		return nil
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("topic %s: %w", topic, err)
	}
	defer consumer.Close()

	p := &tailPrinter{w: cmd.OutOrStdout(), output: o.output, key: keyCodec, value: valueCodec, json: jsonCodec, limit: o.count, done: cancel}
	var wg sync.WaitGroup
	errs := make(chan error, len(spans))
	for _, s := range spans {
		pc, err := within(ctx, &o.kafka, addrs, fmt.Sprintf("a fetch from %s/%d", topic, s.partition), func() (sarama.PartitionConsumer, error) {
			return consumer.ConsumePartition(topic, s.partition, s.start)
		})
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("%s/%d@%d: %w", topic, s.partition, s.start, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case err, ok := <-pc.Errors():
					if ok {
						errs <- fmt.Errorf("%s/%d: %w", topic, s.partition, err)
						cancel()
					}
					return
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					if !p.print(m) {
						return
					}
					if !o.follow && m.Offset+1 >= s.stop {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return p.err // nil also when Ctrl-C ended the command: a stop, not a failure
}

// tailPrinter decodes and prints records from several partitions, one at a time, up to a limit.
type tailPrinter struct {
	mu               sync.Mutex
	w                io.Writer
	output           string
	key, value, json stream.Codec
	limit, printed   int
	done             func()
	err              error
}

// print writes m and reports whether more records are wanted.
func (p *tailPrinter) print(m *sarama.ConsumerMessage) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || (p.limit > 0 && p.printed >= p.limit) {
		return false
	}
	where := fmt.Sprintf("%s/%d@%d", m.Topic, m.Partition, m.Offset)
	key, err := p.render(p.key, m.Key)
	if err != nil {
		p.fail(fmt.Errorf("%s: key: %w", where, err))
		return false
	}
	value, err := p.render(p.value, m.Value)
	if err != nil {
		p.fail(fmt.Errorf("%s: value: %w", where, err))
		return false
	}
	headers := make([]tailHeader, len(m.Headers))
	for i, h := range m.Headers {
		headers[i] = tailHeader{Key: string(h.Key), Value: string(h.Value)}
	}
	sort.SliceStable(headers, func(i, j int) bool { return headers[i].Key < headers[j].Key })
	if p.output == outputJSON {
		b, err := json.Marshal(tailRecord{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp,
			Key: key.json, Value: value.json, Headers: headers})
		if err == nil {
			_, err = fmt.Fprintf(p.w, "%s\n", b)
		}
		if err != nil {
			p.fail(err)
			return false
		}
	} else {
		line := fmt.Sprintf("%d@%d  key=%s  %s", m.Partition, m.Offset, key.text, value.text)
		if len(headers) > 0 {
			hs := make([]string, len(headers))
			for i, h := range headers {
				hs[i] = h.Key + "=" + quoteIfNeeded(h.Value)
			}
			line += "  headers: " + strings.Join(hs, " ")
		}
		if _, err := fmt.Fprintln(p.w, line); err != nil {
			p.fail(err)
			return false
		}
	}
	p.printed++
	if p.limit > 0 && p.printed >= p.limit {
		p.done()
		return false
	}
	return true
}

func (p *tailPrinter) fail(err error) {
	p.err = err
	p.done()
}

// rendered is a decoded key or value as people read it (text) and as JSON.
type rendered struct {
	text string
	json json.RawMessage
}

// render decodes data with codec and renders it: strings as they are, bytes as text when they are UTF-8
// (else quoted with escapes; base64 in JSON), structured values as plain JSON.
func (p *tailPrinter) render(codec stream.Codec, data []byte) (rendered, error) {
	if data == nil {
		return rendered{text: "null", json: json.RawMessage("null")}, nil
	}
	schema, v, err := codec.Decode(data)
	if err != nil {
		return rendered{}, fmt.Errorf("codec %s: %w", codec.Name(), err)
	}
	switch v := v.(type) {
	case nil:
		return rendered{text: "null", json: json.RawMessage("null")}, nil
	case string:
		b, _ := json.Marshal(v)
		return rendered{text: v, json: b}, nil
	case []byte:
		b, _ := json.Marshal(v)
		if utf8.Valid(v) {
			return rendered{text: string(v), json: b}, nil
		}
		return rendered{text: strconv.Quote(string(v)), json: b}, nil
	}
	b, err := p.json.Encode(schema, v)
	if err != nil {
		return rendered{}, fmt.Errorf("as JSON: %w", err)
	}
	return rendered{text: string(b), json: b}, nil
}

// bindTailCodecs binds codecs that need a schema registry (stream.TopicCodec, such as avro) to the topic,
// with the registry that --registry names; other codecs are returned as they are.
func bindTailCodecs(ctx context.Context, topic string, o *tailOptions, key, value stream.Codec) (stream.Codec, stream.Codec, error) {
	_, keyTC := key.(stream.TopicCodec)
	_, valueTC := value.(stream.TopicCodec)
	if !keyTC && !valueTC {
		return key, value, nil
	}
	if o.kafka.timeout <= 0 {
		return nil, nil, fmt.Errorf("--timeout %v: want a positive duration", o.kafka.timeout)
	}
	openCtx, cancel := context.WithTimeout(ctx, o.kafka.timeout)
	defer cancel()
	conn, err := o.registry.open(openCtx, &o.kafka)
	if err != nil {
		return nil, nil, err
	}
	context.AfterFunc(ctx, conn.close) // the registry serves the whole tail
	reg, err := conn.client(o.kafka.timeout)
	if err != nil {
		return nil, nil, err
	}
	bind := func(c stream.Codec, isKey bool, flag string) (stream.Codec, error) {
		tc, ok := c.(stream.TopicCodec)
		if !ok {
			return c, nil
		}
		bound, err := tc.ForTopic(stream.TopicBinding{Topic: topic, Key: isKey, Registry: reg})
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, c.Name(), err)
		}
		return bound, nil
	}
	if key, err = bind(key, true, "--key-codec"); err != nil {
		return nil, nil, err
	}
	if value, err = bind(value, false, "--codec"); err != nil {
		return nil, nil, err
	}
	return key, value, nil
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"") || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return s
}
