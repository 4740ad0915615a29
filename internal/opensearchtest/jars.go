package opensearchtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// JavaHint is the fix named in the failure when no Java runtime or compiler is installed.
const JavaHint = "apt-get install openjdk-17-jdk-headless"

// MavenHint is the fix named in the failure when the OpenSearch jars are missing and cannot be fetched.
const MavenHint = "apt-get install maven, then `make opensearch-jars` in the repository root"

// stampFile marks a complete test/opensearch/lib: written last, after Maven copied every jar, and it must be
// newer than pom.xml (the Makefile's opensearch-jars target uses the same rule).
const stampFile = ".complete"

// fetchTimeout bounds the Maven run that fills test/opensearch/lib; compileTimeout the javac run.
const (
	fetchTimeout   = 10 * time.Minute
	compileTimeout = 3 * time.Minute
)

// tools locates java, fetches the jars when missing or stale and compiles the launcher when its compiled
// classes are missing or older than its source, returning the JVM's class path.
func tools() (java, classpath string, err error) {
	java, err = exec.LookPath("java")
	if err != nil {
		return "", "", fmt.Errorf("opensearchtest: no Java runtime in PATH (OpenSearch 2.19 needs Java 17): %s", JavaHint)
	}
	root, err := repoRoot()
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(root, "test", "opensearch")
	unlock, err := lockDir(dir)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	lib, err := ensureJars(dir)
	if err != nil {
		return "", "", err
	}
	classes, err := compileLauncher(dir, lib)
	if err != nil {
		return "", "", err
	}
	return java, filepath.Join(lib, "*") + string(os.PathListSeparator) + classes, nil
}

// repoRoot walks up from the working directory (a test runs in its package's directory) to go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("opensearchtest: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("opensearchtest: no go.mod in %s or any parent: cannot locate test/opensearch", dir)
		}
	}
}

// lockDir takes an exclusive file lock on dir/.lib.lock, so that test binaries running side by side do not
// fetch or compile at the same time.
func lockDir(dir string) (unlock func(), err error) {
	lock, err := os.OpenFile(filepath.Join(dir, ".lib.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opensearchtest: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("opensearchtest: lock %s: %w", lock.Name(), err)
	}
	return func() {
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	}, nil
}

// jarsFresh reports whether dir/lib is complete and newer than the pom.
func jarsFresh(dir string) bool {
	stamp, err := os.Stat(filepath.Join(dir, "lib", stampFile))
	if err != nil {
		return false
	}
	pom, err := os.Stat(filepath.Join(dir, "pom.xml"))
	return err == nil && !stamp.ModTime().Before(pom.ModTime())
}

// ensureJars returns dir/lib, running Maven when the jars are missing or stale (the caller holds the lock).
// Maven fills a fresh directory that replaces lib only when complete.
func ensureJars(dir string) (string, error) {
	lib := filepath.Join(dir, "lib")
	if jarsFresh(dir) {
		return lib, nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", fmt.Errorf("opensearchtest: the OpenSearch jars are missing or stale in %s and Maven is not installed: %s", lib, MavenHint)
	}
	next := lib + ".new"
	os.RemoveAll(next)
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "dependency:copy-dependencies",
		"-DoutputDirectory="+next, "-DincludeScope=runtime")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(next)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no result after %s", fetchTimeout)
		}
		return "", fmt.Errorf("opensearchtest: fetching the OpenSearch jars into %s (mvn dependency:copy-dependencies in %s) failed: %v\n%s",
			lib, dir, err, lastLines(string(out), 30))
	}
	if err := os.WriteFile(filepath.Join(next, stampFile), []byte("written by internal/opensearchtest after mvn dependency:copy-dependencies\n"), 0o644); err != nil {
		return "", fmt.Errorf("opensearchtest: %w", err)
	}
	os.RemoveAll(lib)
	if err := os.Rename(next, lib); err != nil {
		return "", fmt.Errorf("opensearchtest: %w", err)
	}
	return lib, nil
}

// compileLauncher compiles dir/src/Launcher.java into lib/classes-<hash of the source> (so it goes with the
// jars it was compiled against) unless that directory exists, and returns it (the caller holds the lock).
func compileLauncher(dir, lib string) (string, error) {
	src := filepath.Join(dir, "src", "Launcher.java")
	code, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("opensearchtest: the launcher's source: %w", err)
	}
	sum := sha256.Sum256(code)
	classes := filepath.Join(lib, "classes-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(classes, "Launcher.class")); err == nil {
		return classes, nil
	}
	javac, err := exec.LookPath("javac")
	if err != nil {
		return "", fmt.Errorf("opensearchtest: no Java compiler (javac) in PATH to compile %s: %s", src, JavaHint)
	}
	tmp := classes + ".tmp"
	os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, javac, "-nowarn", "-d", tmp, "-cp", filepath.Join(lib, "*"), src).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("opensearchtest: compiling %s against %s failed: %v\n%s", src, lib, err, lastLines(string(out), 30))
	}
	if err := os.Rename(tmp, classes); err != nil {
		return "", fmt.Errorf("opensearchtest: %w", err)
	}
	return classes, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
