package kafkatest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/sluicehq/sluice/internal/mavenjars"
)

var (
	toolsOnce sync.Once
	toolsErr  error
	javaPath  string
	libDir    string // absolute test/kafka/lib
)

// tools finds java and the Kafka jars once per test binary, fetching the jars with Maven (internal/mavenjars,
// as `make kafka-jars` does) if they are missing or older than test/kafka/pom.xml.
func tools() (java, lib string, err error) {
	toolsOnce.Do(func() {
		javaPath, toolsErr = mavenjars.Java()
		if toolsErr != nil {
			toolsErr = fmt.Errorf("kafkatest: real Kafka 4.4 needs Java 17 or newer: %w", toolsErr)
			return
		}
		root, err := mavenjars.RepoRoot()
		if err != nil {
			toolsErr = fmt.Errorf("kafkatest: %w", err)
			return
		}
		libDir, toolsErr = mavenjars.Ensure(context.Background(), filepath.Join(root, "test", "kafka"))
		if toolsErr != nil {
			toolsErr = fmt.Errorf("kafkatest: the Kafka jars: %w", toolsErr)
		}
	})
	return javaPath, libDir, toolsErr
}
