package kafkatest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/mavenjars"
)

// TestEnsureJarsFetchesWhenMissingOrStale runs the real Maven fetch of internal/mavenjars on a scratch copy of
// test/kafka/pom.xml: the jars Start runs Kafka with arrive, and a fresh lib is not fetched again.
func TestEnsureJarsFetchesWhenMissingOrStale(t *testing.T) {
	root, err := mavenjars.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pom, err := os.ReadFile(filepath.Join(root, "test", "kafka", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pom.xml"), pom, 0o644); err != nil {
		t.Fatal(err)
	}
	if mavenjars.Fresh(dir) {
		t.Fatal("jarsFresh before any fetch")
	}
	began := time.Now()
	lib, err := mavenjars.Ensure(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Maven filled %s in %s", lib, time.Since(began).Round(time.Millisecond))
	for _, jar := range []string{"kafka_2.13-4.4.0.jar", "kafka-tools-4.4.0.jar", "slf4j-api-2.0.16.jar", mavenjars.StampFile} {
		if _, err := os.Stat(filepath.Join(lib, jar)); err != nil {
			t.Errorf("after the fetch: %v", err)
		}
	}
	stamp, _ := os.Stat(filepath.Join(lib, mavenjars.StampFile))
	if _, err := mavenjars.Ensure(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Stat(filepath.Join(lib, mavenjars.StampFile)); !again.ModTime().Equal(stamp.ModTime()) {
		t.Error("a complete, fresh lib was fetched again")
	}
	later := stamp.ModTime().Add(time.Second)
	if err := os.Chtimes(filepath.Join(dir, "pom.xml"), later, later); err != nil {
		t.Fatal(err)
	}
	if mavenjars.Fresh(dir) {
		t.Error("jarsFresh after the pom changed")
	}
}
