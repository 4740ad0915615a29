package kafkatest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Class-data sharing: the JVM can map the classes a Kafka broker loads from an archive instead of loading
// and verifying them from the jars again. Measured on the 2-core machine, one broker's start-up went from
// 7.0 s of CPU (default JIT) to 3.7 s with -XX:TieredStopAtLevel=1 and to 2.2 s with that plus the
// archive. The archive (about 50 MB) is written by the first broker that exits cleanly in a test binary
// when none exists (-XX:ArchiveClassesAtExit), into test/kafka/lib, so it vanishes when the jars are
// fetched again; its name carries the Java runtime it was made by. A missing, stale or foreign archive
// only costs speed: the JVM then warns on stderr and loads classes as usual.

var archive struct {
	mu      sync.Mutex
	dumping bool // a node of this process is writing the archive
}

// archivePath is the shared class archive for this Java runtime and these jars.
func archivePath(java, lib string) string {
	id := java
	if real, err := filepath.EvalSymlinks(java); err == nil {
		id = real
		if fi, err := os.Stat(real); err == nil {
			id += fi.ModTime().String()
		}
	}
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(lib, "kafka-"+hex.EncodeToString(sum[:6])+".jsa")
}

// cdsFlags returns the class-data-sharing flags of a JVM: use the archive when there is one. When there is
// none and dump is true, the first caller of the process gets flags that write it at exit, and a finish
// function to call after the JVM exited (it publishes the archive atomically, or lets a later JVM try).
func cdsFlags(java, lib string, dump bool) (flags []string, finish func()) {
	path := archivePath(java, lib)
	if _, err := os.Stat(path); err == nil {
		return []string{"-XX:SharedArchiveFile=" + path}, func() {}
	}
	if !dump {
		return nil, func() {}
	}
	archive.mu.Lock()
	defer archive.mu.Unlock()
	if archive.dumping {
		return nil, func() {}
	}
	archive.dumping = true
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	return []string{"-XX:ArchiveClassesAtExit=" + tmp}, func() {
		archive.mu.Lock()
		defer archive.mu.Unlock()
		archive.dumping = false
		if fi, err := os.Stat(tmp); err == nil && fi.Size() > 0 {
			_ = os.Rename(tmp, path) // test binaries side by side: the last complete archive wins
		} else {
			os.Remove(tmp) // killed before the dump: a later clean exit writes it
		}
	}
}
