// Package mavenjars is what the Java-backed test harnesses (internal/kafkatest, internal/opensearchtest,
// test/interop) share: finding java and javac, the repository's root, a directory of jars fetched by Maven
// from a pom.xml, and small Java programs compiled against those jars.
//
// A jar directory is test/<name>: its pom.xml lists the dependencies, Maven copies them into
// test/<name>/lib (git-ignored), and the Makefile target `make <name>-jars` does the same as Ensure, by
// the same rule: lib is complete when lib/.complete exists, written last, and fresh when that stamp is not
// older than pom.xml. Fetching and compiling run under an exclusive file lock on test/<name>/.lib.lock, so
// test binaries running side by side do not fetch or compile into the same place at the same time.
package mavenjars

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/dbserver"
)

// JavaHint is the fix named in the failure when no Java runtime is installed; JDKHint when no compiler is.
const (
	JavaHint = "apt-get install openjdk-17-jre-headless"
	JDKHint  = "apt-get install openjdk-17-jdk-headless"
)

// StampFile marks a complete lib directory: it is written last, after Maven copied every jar.
const StampFile = ".complete"

// FetchTimeout bounds one Maven run that fills a lib directory; CompileTimeout one javac run.
const (
	FetchTimeout   = 10 * time.Minute
	CompileTimeout = 3 * time.Minute
)

// Java returns the path of the java launcher in PATH, or an error naming the package to install.
func Java() (string, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("no Java runtime (java) in PATH: %s", JavaHint)
	}
	return java, nil
}

// Javac returns the path of the Java compiler in PATH, or an error naming the package to install.
func Javac() (string, error) {
	javac, err := exec.LookPath("javac")
	if err != nil {
		return "", fmt.Errorf("no Java compiler (javac) in PATH: %s", JDKHint)
	}
	return javac, nil
}

// RepoRoot walks up from the working directory (a test runs in its package's directory) to the directory
// that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("the working directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or any parent: cannot locate the repository's test jars", dir)
		}
	}
}

// Fresh reports whether dir/lib is complete (its stamp exists) and not older than dir/pom.xml.
func Fresh(dir string) bool {
	stamp, err := os.Stat(filepath.Join(dir, "lib", StampFile))
	if err != nil {
		return false
	}
	pom, err := os.Stat(filepath.Join(dir, "pom.xml"))
	return err == nil && !stamp.ModTime().Before(pom.ModTime())
}

// Ensure returns dir/lib, the jars of dir/pom.xml. When they are missing or stale (see Fresh) it runs
// `mvn dependency:copy-dependencies` in dir, under the directory's file lock and within FetchTimeout (or
// ctx's deadline, if sooner), into dir/lib.new, stamps it and only then puts it in place of dir/lib, so a
// failed or interrupted fetch leaves no half-filled lib behind. A binary that waited for the lock while
// another fetched finds lib fresh and fetches nothing. The error names the pom and, when Maven is not
// installed, the Makefile target that fetches the same jars.
func Ensure(ctx context.Context, dir string) (string, error) {
	lib := filepath.Join(dir, "lib")
	if Fresh(dir) {
		return lib, nil
	}
	unlock, err := lock(ctx, dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if Fresh(dir) { // another test binary fetched them while this one waited
		return lib, nil
	}
	pom := filepath.Join(dir, "pom.xml")
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", fmt.Errorf("the jars of %s are missing or older than it in %s and Maven is not installed: apt-get install maven, then `make %s-jars` in the repository root",
			pom, lib, filepath.Base(dir))
	}
	next := lib + ".new"
	os.RemoveAll(next)
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "dependency:copy-dependencies",
		"-DoutputDirectory="+next, "-DincludeScope=runtime")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(next)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no result after %s", FetchTimeout)
		}
		return "", fmt.Errorf("fetching the jars of %s into %s (mvn dependency:copy-dependencies) failed: %v\n%s",
			pom, lib, err, dbserver.LastLines(string(out), 30))
	}
	if err := os.WriteFile(filepath.Join(next, StampFile), []byte("written by internal/mavenjars after mvn dependency:copy-dependencies\n"), 0o644); err != nil {
		os.RemoveAll(next)
		return "", fmt.Errorf("stamping the jars of %s: %w", pom, err)
	}
	os.RemoveAll(lib)
	if err := os.Rename(next, lib); err != nil {
		return "", fmt.Errorf("putting the jars of %s in place: %w", pom, err)
	}
	return lib, nil
}

// Compile compiles the .java files of srcDir against the jars of lib and returns the directory of their
// classes, lib/classes-<hash of the sources' names and contents>. It runs javac (within CompileTimeout, or
// ctx's deadline if sooner) only when that directory does not exist yet: the classes go with the jars they
// were compiled against (a new fetch replaces lib and with it every compiled class), and a changed source
// gets a new directory. javac writes into a temporary directory renamed into place when complete, under
// the file lock of lib's parent directory.
func Compile(ctx context.Context, lib, srcDir string) (string, error) {
	sources, hash, err := sourceHash(srcDir)
	if err != nil {
		return "", err
	}
	classes := filepath.Join(lib, "classes-"+hash)
	if _, err := os.Stat(classes); err == nil {
		return classes, nil
	}
	unlock, err := lock(ctx, filepath.Dir(lib))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(classes); err == nil { // another test binary compiled them while this one waited
		return classes, nil
	}
	javac, err := Javac()
	if err != nil {
		return "", fmt.Errorf("compiling %s: %w", srcDir, err)
	}
	tmp := classes + ".tmp"
	os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(ctx, CompileTimeout)
	defer cancel()
	args := append([]string{"-nowarn", "-d", tmp, "-cp", filepath.Join(lib, "*")}, sources...)
	out, err := exec.CommandContext(ctx, javac, args...).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no result after %s", CompileTimeout)
		}
		return "", fmt.Errorf("compiling %s against %s failed: %v\n%s", srcDir, lib, err, dbserver.LastLines(string(out), 30))
	}
	if err := os.Rename(tmp, classes); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("putting the classes of %s in place: %w", srcDir, err)
	}
	return classes, nil
}

// sourceHash returns the .java files of srcDir, sorted, and the first 12 hex digits of the SHA-256 of
// their names and contents.
func sourceHash(srcDir string) (sources []string, hash string, err error) {
	sources, err = filepath.Glob(filepath.Join(srcDir, "*.java"))
	if err != nil {
		return nil, "", fmt.Errorf("the Java sources of %s: %w", srcDir, err)
	}
	if len(sources) == 0 {
		return nil, "", fmt.Errorf("no .java file in %s to compile", srcDir)
	}
	slices.Sort(sources)
	h := sha256.New()
	for _, src := range sources {
		f, err := os.Open(src)
		if err != nil {
			return nil, "", fmt.Errorf("the Java source %s: %w", src, err)
		}
		fmt.Fprintf(h, "%s\x00", filepath.Base(src))
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("the Java source %s: %w", src, err)
		}
		fmt.Fprintf(h, "\x00%d\x00", n)
	}
	return sources, hex.EncodeToString(h.Sum(nil)[:6]), nil
}

// lockPoll is how often lock tries again while another test binary holds the lock.
const lockPoll = 100 * time.Millisecond

// lock takes the exclusive file lock dir/.lib.lock and returns its release. It gives up when ctx ends
// first, naming the lock file (another test binary is fetching or compiling for longer than ctx allows).
func lock(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lib.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock %s (another test binary fetching or compiling): %w", f.Name(), ctx.Err())
		case <-time.After(lockPoll): // the lock holder may finish any moment; flock has no wait with a deadline
		}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
