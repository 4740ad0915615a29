package kafka

import "hash"

// Murmur2 is Kafka's 32-bit murmur2 hash of data (org.apache.kafka.common.utils.Utils.murmur2: seed
// 0x9747b28c, m 0x5bd1e995, r 24, little-endian 4-byte blocks), returned as the Java int it computes.
// Kafka's default partitioner puts a keyed record on toPositive(Murmur2(key)) % numPartitions, where
// toPositive clears the sign bit; so do the Java producer, librdkafka with partitioner=murmur2_random
// and franz-go's default partitioner.
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	for len(data) >= 4 {
		k := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		data = data[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// PartitionFor returns the partition a key lands on among n partitions: Kafka's default
// toPositive(murmur2(key)) % n. It is the arithmetic of the engine's producers (SaramaConfig) and of
// goka's processors and views (NewKeyHash), so keys co-partition with each other and with topics written
// by Kafka's Java producer, librdkafka (murmur2_random) or franz-go.
func PartitionFor(key string, n int32) int32 {
	return int32(uint32(Murmur2([]byte(key)))&0x7fffffff) % n
}

// NewKeyHash returns the key hash of every producer, processor and view of the engine: a hash.Hash32
// over everything written since the last Reset whose Sum32 is toPositive(Murmur2(key)), never above
// 0x7fffffff. Because that sum is never negative as an int32, each consumer of it lands on Kafka's
// partition exactly:
//   - sarama's NewCustomHashPartitioner computes int32(Sum32) % n and negates a negative result;
//   - goka v1.1.17 (Processor.hash, View.hash) computes int32(Sum32), negates it if negative, then % n.
//
// Both reduce to toPositive(murmur2(key)) % n, which is PartitionFor. A hash is not safe for concurrent
// use; sarama and goka make one per partitioner or per lookup.
func NewKeyHash() hash.Hash32 { return new(keyHash) }

type keyHash struct{ buf []byte }

func (h *keyHash) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p...)
	return len(p), nil
}

func (h *keyHash) Sum32() uint32 { return uint32(Murmur2(h.buf)) & 0x7fffffff }

// Sum appends the big-endian bytes of Sum32 to b, as hash/fnv does.
func (h *keyHash) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}

func (h *keyHash) Reset()         { h.buf = h.buf[:0] }
func (h *keyHash) Size() int      { return 4 }
func (h *keyHash) BlockSize() int { return 4 }
