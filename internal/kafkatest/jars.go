package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// JavaHint is the fix named in the failure when no Java runtime is installed.
const JavaHint = "apt-get install openjdk-17-jre-headless"

// MavenHint is the fix named in the failure when the Kafka jars are missing and cannot be fetched.
const MavenHint = "apt-get install maven, then `make kafka-jars` in the repository root"

// stampFile marks a complete test/kafka/lib: it is written last, after Maven copied every jar, and must be
// newer than pom.xml (the Makefile's kafka-jars target uses the same rule).
const stampFile = ".complete"

// fetchTimeout bounds the Maven run that fills test/kafka/lib.
const fetchTimeout = 10 * time.Minute

var (
	toolsOnce sync.Once
	toolsErr  error
	javaPath  string
	libDir    string // absolute test/kafka/lib
)

// tools finds java and the Kafka jars once per test binary, fetching the jars with Maven if they are missing
// or older than test/kafka/pom.xml.
func tools() (java, lib string, err error) {
	toolsOnce.Do(func() {
		javaPath, toolsErr = exec.LookPath("java")
		if toolsErr != nil {
			toolsErr = fmt.Errorf("kafkatest: no Java runtime in PATH (real Kafka 4.4 needs Java 17 or newer): %s", JavaHint)
			return
		}
		var root string
		root, toolsErr = repoRoot()
		if toolsErr != nil {
			return
		}
		libDir, toolsErr = ensureJars(filepath.Join(root, "test", "kafka"))
	})
	return javaPath, libDir, toolsErr
}

// repoRoot walks up from the working directory (a test runs in its package's directory) to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kafkatest: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("kafkatest: no go.mod in %s or any parent: cannot locate test/kafka/lib", dir)
		}
	}
}

// jarsFresh reports whether kafkaDir/lib is complete and newer than the pom.
func jarsFresh(kafkaDir string) bool {
	stamp, err := os.Stat(filepath.Join(kafkaDir, "lib", stampFile))
	if err != nil {
		return false
	}
	pom, err := os.Stat(filepath.Join(kafkaDir, "pom.xml"))
	return err == nil && !stamp.ModTime().Before(pom.ModTime())
}

// ensureJars returns kafkaDir/lib, running Maven once (under an exclusive file lock, so test binaries running
// side by side do not fetch at the same time) when the jars are missing or stale. Maven fills a fresh
// directory that replaces lib only when complete.
func ensureJars(kafkaDir string) (string, error) {
	lib := filepath.Join(kafkaDir, "lib")
	if jarsFresh(kafkaDir) {
		return lib, nil
	}
	lock, err := os.OpenFile(filepath.Join(kafkaDir, ".lib.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("kafkatest: lock %s: %w", kafkaDir, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("kafkatest: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if jarsFresh(kafkaDir) { // another test binary fetched them while this one waited
		return lib, nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", fmt.Errorf("kafkatest: the Kafka jars are missing or stale in %s and Maven is not installed: %s", lib, MavenHint)
	}
	next := lib + ".new"
	os.RemoveAll(next)
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "dependency:copy-dependencies",
		"-DoutputDirectory="+next, "-DincludeScope=runtime")
	cmd.Dir = kafkaDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(next)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no result after %s", fetchTimeout)
		}
		return "", fmt.Errorf("kafkatest: fetching the Kafka jars into %s (mvn dependency:copy-dependencies in %s) failed: %v\n%s",
			lib, kafkaDir, err, lastLines(string(out), 30))
	}
	if err := os.WriteFile(filepath.Join(next, stampFile), []byte("written by internal/kafkatest after mvn dependency:copy-dependencies\n"), 0o644); err != nil {
		return "", fmt.Errorf("kafkatest: %w", err)
	}
	os.RemoveAll(lib)
	if err := os.Rename(next, lib); err != nil {
		return "", fmt.Errorf("kafkatest: %w", err)
	}
	return lib, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
