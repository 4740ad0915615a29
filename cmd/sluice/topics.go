package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/internal/kafka"
	"github.com/spf13/cobra"
)

// kafkaFlags are the flags of the commands that talk to Kafka directly (topics, tail).
type kafkaFlags struct {
	brokers string
	timeout time.Duration
}

func (f *kafkaFlags) register(cmd *cobra.Command) {
	def := os.Getenv("SLUICE_BROKERS")
	if def == "" {
		def = "127.0.0.1:9092"
	}
	cmd.Flags().StringVar(&f.brokers, "brokers", def, "Kafka brokers, comma-separated (default $SLUICE_BROKERS or the embedded broker's 127.0.0.1:9092)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "deadline of each request to Kafka")
}

func (f *kafkaFlags) addrs() ([]string, error) {
	var out []string
	for _, a := range strings.Split(f.brokers, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--brokers is empty: give host:port of at least one Kafka broker")
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v: want a positive duration", f.timeout)
	}
	return out, nil
}

// connect returns a sarama client whose every metadata request ends within the timeout; building it (the
// first metadata request) also ends with ctx.
func (f *kafkaFlags) connect(ctx context.Context) (sarama.Client, []string, error) {
	addrs, err := f.addrs()
	if err != nil {
		return nil, nil, err
	}
	auth, err := kafka.AuthFromEnv() // TLS and SASL: SLUICE_KAFKA_*, as the pipeline's
	if err != nil {
		return nil, nil, err
	}
	if err := kafka.CheckAuth(ctx, addrs, auth, f.timeout); err != nil { // wrong credentials: at once, named
		return nil, nil, err
	}
	cfg := kafka.StartupConfig(kafka.SaramaConfig(kafka.Settings{Brokers: addrs, ClientID: "sluice-cli", Auth: auth}), f.timeout)
	cfg.Net.ReadTimeout = f.timeout
	cfg.Net.WriteTimeout = f.timeout
	cfg.Metadata.Retry.Max = 1
	client, err := kafka.Within(ctx, f.timeout, addrs, "a metadata request",
		func() (sarama.Client, error) { return sarama.NewClient(addrs, cfg) },
		func(c sarama.Client) { c.Close() })
	if err != nil {
		return nil, nil, fmt.Errorf("Kafka at %s: %w", strings.Join(addrs, ","), kafka.ExplainAuth(err, addrs, auth))
	}
	return client, addrs, nil
}

// within runs a sarama call that takes no context so that it ends with ctx or after the timeout.
func within[T any](ctx context.Context, f *kafkaFlags, addrs []string, what string, call func() (T, error)) (T, error) {
	return kafka.Within(ctx, f.timeout, addrs, what, call, nil)
}

// topicInfo is one line of `sluice topics`.
type topicInfo struct {
	Name       string `json:"name"`
	Partitions int    `json:"partitions"`
	Records    int64  `json:"records"` // sum over partitions of high-water mark minus log start offset
	Bytes      *int64 `json:"bytes"`   // log size on the brokers' disks; nil when they do not say
}

func topicsCommand() *cobra.Command {
	var f kafkaFlags
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "List Kafka's topics with their partitions, records (end minus start offsets) and size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			client, addrs, err := f.connect(ctx)
			if err != nil {
				return err
			}
			defer client.Close()
			topics, err := listTopics(ctx, &f, client, addrs, all)
			if err != nil {
				return err
			}
			if output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), topics)
			}
			t := newTable(cmd.OutOrStdout(), "TOPIC", "PARTITIONS", "RECORDS", "SIZE")
			for _, ti := range topics {
				size := ""
				if ti.Bytes != nil {
					size = humanBytes(*ti.Bytes)
				}
				t.row(ti.Name, strconv.Itoa(ti.Partitions), strconv.FormatInt(ti.Records, 10), size)
			}
			return t.flush()
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table (for people) or json (for scripts)")
	cmd.Flags().BoolVar(&all, "all", false, "include Kafka's internal topics (__consumer_offsets, ...)")
	return cmd
}

func listTopics(ctx context.Context, f *kafkaFlags, client sarama.Client, addrs []string, all bool) ([]topicInfo, error) {
	names, err := within(ctx, f, addrs, "a metadata request", client.Topics)
	if err != nil {
		return nil, err
	}
	var out []topicInfo
	index := map[string]int{}
	for _, name := range names {
		if !all && strings.HasPrefix(name, "__") {
			continue
		}
		parts, err := within(ctx, f, addrs, "the partitions of "+name, func() ([]int32, error) { return client.Partitions(name) })
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", name, err)
		}
		ti := topicInfo{Name: name, Partitions: len(parts)}
		for _, p := range parts {
			first, last, err := partitionBounds(ctx, f, client, addrs, name, p)
			if err != nil {
				return nil, err
			}
			ti.Records += last - first
		}
		index[name] = len(out)
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := range out {
		index[out[i].Name] = i
	}
	sizes, err := logSizes(ctx, f, client, addrs)
	if err == nil {
		for name, n := range sizes {
			if i, ok := index[name]; ok {
				out[i].Bytes = &n
			}
		}
	}
	return out, nil
}

// partitionBounds returns a partition's log start offset and high-water mark.
func partitionBounds(ctx context.Context, f *kafkaFlags, client sarama.Client, addrs []string, topic string, p int32) (int64, int64, error) {
	where := fmt.Sprintf("the offsets of %s/%d", topic, p)
	first, err := within(ctx, f, addrs, where, func() (int64, error) { return client.GetOffset(topic, p, sarama.OffsetOldest) })
	if err != nil {
		return 0, 0, fmt.Errorf("%s/%d: %w", topic, p, err)
	}
	last, err := within(ctx, f, addrs, where, func() (int64, error) { return client.GetOffset(topic, p, sarama.OffsetNewest) })
	if err != nil {
		return 0, 0, fmt.Errorf("%s/%d: %w", topic, p, err)
	}
	return first, last, nil
}

// logSizes returns the bytes each topic holds on the brokers' log dirs (replicas included).
func logSizes(ctx context.Context, f *kafkaFlags, client sarama.Client, addrs []string) (map[string]int64, error) {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return nil, err
	}
	// Closing the admin would close the shared client: the caller closes that.
	ids := make([]int32, 0)
	for _, b := range client.Brokers() {
		ids = append(ids, b.ID())
	}
	dirs, err := within(ctx, f, addrs, "a log dirs request", func() (map[int32][]sarama.DescribeLogDirsResponseDirMetadata, error) {
		return admin.DescribeLogDirs(ids)
	})
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{}
	for _, perBroker := range dirs {
		for _, d := range perBroker {
			for _, t := range d.Topics {
				for _, p := range t.Partitions {
					sizes[t.Topic] += p.Size
				}
			}
		}
	}
	return sizes, nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
