package kafka

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka's own vectors: UtilsTest.testMurmur2 in apache/kafka,
// clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java (the Java int Utils.murmur2 returns).
// franz-go repeats them in pkg/kgo/partitioner_test.go (TestMurmur2KafkaVectors).
var kafkaMurmur2Vectors = []struct {
	key  string
	want int32
}{
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
}

func TestMurmur2KafkaVectors(t *testing.T) {
	for _, v := range kafkaMurmur2Vectors {
		if got := Murmur2([]byte(v.key)); got != v.want {
			t.Errorf("Murmur2(%q) = %d, want %d (Kafka's Utils.murmur2)", v.key, got, v.want)
		}
		h := NewKeyHash()
		_, _ = h.Write([]byte(v.key))
		if got, want := h.Sum32(), uint32(v.want)&0x7fffffff; got != want {
			t.Errorf("NewKeyHash Sum32(%q) = %d, want toPositive = %d", v.key, got, want)
		}
	}
}

// franz-go's default partitioner (StickyKeyPartitioner(nil) = KafkaHasher(murmur2)) is an independent
// implementation of Kafka's (murmur2(key) & 0x7fffffff) % n. With n = MaxInt32 its partition is the
// positive hash itself (except for the single value 0x7fffffff), so this compares the full hash.
func TestKeyHashMatchesFranzGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	part := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	sizes := []int{1, 2, 3, 7, 12, 64, 1000, math.MaxInt32}
	for i := 0; i < 20000; i++ {
		key := make([]byte, rng.IntN(40))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		h := NewKeyHash()
		_, _ = h.Write(key)
		sum := h.Sum32()
		for _, n := range sizes {
			want := part.Partition(&kgo.Record{Key: key}, n)
			if got := int(sum % uint32(n)); got != want {
				t.Fatalf("key %x over %d partitions: Sum32 %% n = %d, franz-go = %d", key, n, got, want)
			}
			if got := int(PartitionFor(string(key), int32(n))); got != want {
				t.Fatalf("key %x over %d partitions: PartitionFor = %d, franz-go = %d", key, n, got, want)
			}
		}
	}
}

// The producer's partitioner (sarama's custom hash partitioner over NewKeyHash, as SaramaConfig sets it)
// puts every key where Kafka does, including keys whose murmur2 is negative, where sarama's own
// abs-of-remainder arithmetic would otherwise differ from Kafka's toPositive.
func TestSaramaPartitionerIsKafkas(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	partitioner := SaramaConfig(Settings{}).Producer.Partitioner("t")
	if !partitioner.RequiresConsistency() {
		t.Fatal("the producer's partitioner does not require consistency: keyed records could move")
	}
	negatives := 0
	for i := 0; i < 10000; i++ {
		key := make([]byte, 1+rng.IntN(30))
		for j := range key {
			key[j] = byte('a' + rng.IntN(26))
		}
		if Murmur2(key) < 0 {
			negatives++
		}
		for _, n := range []int32{2, 3, 7, 10, 32} {
			got, err := partitioner.Partition(&sarama.ProducerMessage{Topic: "t", Key: sarama.ByteEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if want := int32(uint32(Murmur2(key))&0x7fffffff) % n; got != want {
				t.Fatalf("key %q over %d partitions: sarama put it on %d, Kafka on %d", key, n, got, want)
			}
		}
	}
	if negatives == 0 {
		t.Fatal("no key with a negative murmur2 was tried")
	}
}

// A hash is reused after Reset by sarama's partitioner: the sum must depend only on what came after it,
// and split writes must hash as one.
func TestKeyHashResetAndSplitWrites(t *testing.T) {
	h := NewKeyHash()
	_, _ = h.Write([]byte("something else entirely"))
	h.Reset()
	_, _ = h.Write([]byte("foo"))
	_, _ = h.Write([]byte("bar"))
	if got, want := h.Sum32(), uint32(Murmur2([]byte("foobar")))&0x7fffffff; got != want {
		t.Fatalf("after Reset and split writes: Sum32 = %d, want %d", got, want)
	}
	if got := h.Sum([]byte{9}); len(got) != 5 || got[0] != 9 {
		t.Fatalf("Sum appends 4 bytes: %v", got)
	}
}
