package kafka

import (
	"testing"

	"github.com/IBM/sarama"
)

// MessageBytes counts a message exactly as sarama counts it against Producer.MaxMessageBytes, so a message
// the engine lets through is one sarama sends.
func TestMessageBytesMatchesSarama(t *testing.T) {
	for _, m := range []Message{
		{Topic: "t"},
		{Topic: "t", Key: []byte("file:/var/log/app.log"), Value: make([]byte, 1_000_000)},
		{Topic: "t", Key: []byte("k"), Value: []byte("v"), Headers: []sarama.RecordHeader{
			{Key: []byte("sluice.errors.reason"), Value: []byte("too large")}, {Key: []byte("h"), Value: nil}}},
	} {
		pm := &sarama.ProducerMessage{Topic: m.Topic, Headers: m.Headers}
		if m.Key != nil {
			pm.Key = sarama.ByteEncoder(m.Key)
		}
		if m.Value != nil {
			pm.Value = sarama.ByteEncoder(m.Value)
		}
		if got, want := MessageBytes(m), pm.ByteSize(2); got != want {
			t.Errorf("MessageBytes = %d, sarama's ByteSize = %d", got, want)
		}
	}
}

// Topics the engine creates take exactly what their producer sends; an existing topic with a smaller
// max.message.bytes lowers the limit so that a batch of one message still fits.
func TestRecordLimit(t *testing.T) {
	if got := RecordLimit(DataMaxMessageBytes, TopicMaxMessageBytes(DataMaxMessageBytes)); got != DataMaxMessageBytes {
		t.Errorf("created topic: limit %d", got)
	}
	if got := RecordLimit(DataMaxMessageBytes, 1048588); got != DataMaxMessageBytes { // Kafka's broker default
		t.Errorf("default topic: limit %d", got)
	}
	if got := RecordLimit(DataMaxMessageBytes, 500_000); got != 500_000-RecordBatchOverhead {
		t.Errorf("small topic: limit %d", got)
	}
}
