package mavenjars

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, path string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestEnsureFetchesOnlyWhenMissingOrStale: with no Maven in PATH, Ensure returns a complete lib that is not
// older than the pom without running anything, and fails naming the Makefile target when lib is missing,
// unstamped, or older than the pom; the failed attempt leaves the old lib as it was.
func TestEnsureFetchesOnlyWhenMissingOrStale(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no mvn: any attempt to fetch fails
	dir := filepath.Join(t.TempDir(), "widgets")
	pom := filepath.Join(dir, "pom.xml")
	write(t, pom, "<project/>\n")
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	touch(t, pom, base)
	wantFail := func(why string) {
		t.Helper()
		if Fresh(dir) {
			t.Errorf("%s: Fresh", why)
		}
		_, err := Ensure(context.Background(), dir)
		if err == nil {
			t.Fatalf("%s: Ensure returned no error without Maven", why)
		}
		for _, want := range []string{pom, "apt-get install maven", "`make widgets-jars`"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error %q does not name %s", why, err, want)
			}
		}
	}

	wantFail("no lib")
	write(t, filepath.Join(dir, "lib", "a.jar"), "jar")
	wantFail("lib without its stamp")

	stamp := filepath.Join(dir, "lib", StampFile)
	write(t, stamp, "")
	touch(t, stamp, base)
	lib, err := Ensure(context.Background(), dir)
	if err != nil {
		t.Fatalf("a stamp as old as the pom: %v", err)
	}
	if lib != filepath.Join(dir, "lib") {
		t.Errorf("Ensure returned %s, want %s", lib, filepath.Join(dir, "lib"))
	}

	touch(t, pom, base.Add(time.Second))
	wantFail("a pom newer than the stamp")
	if _, err := os.Stat(filepath.Join(dir, "lib", "a.jar")); err != nil {
		t.Errorf("a failed fetch removed the old lib: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lib.new")); !os.IsNotExist(err) {
		t.Errorf("a failed fetch left lib.new behind: %v", err)
	}
}

// TestSourceHash: the hash covers every .java file's name and content, and nothing else.
func TestSourceHash(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "A.java"), "class A {}\n")
	write(t, filepath.Join(src, "notes.txt"), "not a source")
	files, first, err := sourceHash(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Base(files[0]) != "A.java" || len(first) != 12 {
		t.Fatalf("sourceHash = %v, %q", files, first)
	}
	hashNow := func() string {
		t.Helper()
		_, h, err := sourceHash(src)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	write(t, filepath.Join(src, "notes.txt"), "changed")
	if h := hashNow(); h != first {
		t.Errorf("a changed non-Java file changed the hash: %s, was %s", h, first)
	}
	write(t, filepath.Join(src, "A.java"), "class A { }\n")
	second := hashNow()
	if second == first {
		t.Error("a changed source kept the hash")
	}
	write(t, filepath.Join(src, "B.java"), "")
	if h := hashNow(); h == second {
		t.Error("an added (empty) source kept the hash")
	}
	if _, _, err := sourceHash(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .java file") {
		t.Errorf("a directory without sources: %v", err)
	}
}

// TestCompileCachesBySource compiles a small program with the real javac against an empty lib, runs it with
// java, compiles nothing when asked again, and compiles a changed source into a new directory.
func TestCompileCachesBySource(t *testing.T) {
	java, err := Java()
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(t.TempDir(), "lib")
	src := t.TempDir()
	write(t, filepath.Join(lib, StampFile), "")
	hello := func(greeting string) string {
		return "public class Hello { public static void main(String[] a) { System.out.println(\"" + greeting + "\"); } }\n"
	}
	write(t, filepath.Join(src, "Hello.java"), hello("hello"))
	run := func(classes string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, java, "-cp", classes, "Hello").CombinedOutput()
		if err != nil {
			t.Fatalf("java Hello: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}

	first, err := Compile(context.Background(), lib, src)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(first) != lib || !strings.HasPrefix(filepath.Base(first), "classes-") {
		t.Errorf("the classes are in %s, want %s/classes-<hash>", first, lib)
	}
	if got := run(first); got != "hello" {
		t.Errorf("the compiled program printed %q, want hello", got)
	}
	class, err := os.Stat(filepath.Join(first, "Hello.class"))
	if err != nil {
		t.Fatal(err)
	}

	again, err := Compile(context.Background(), lib, src)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("the same source compiled into %s, then %s", first, again)
	}
	if now, err := os.Stat(filepath.Join(again, "Hello.class")); err != nil || !now.ModTime().Equal(class.ModTime()) {
		t.Errorf("the same source was compiled again (%v)", err)
	}

	write(t, filepath.Join(src, "Hello.java"), hello("changed"))
	changed, err := Compile(context.Background(), lib, src)
	if err != nil {
		t.Fatal(err)
	}
	if changed == first {
		t.Fatal("a changed source reused the old classes")
	}
	if got := run(changed); got != "changed" {
		t.Errorf("the recompiled program printed %q, want changed", got)
	}

	write(t, filepath.Join(src, "Hello.java"), "public class Hello { broken")
	if _, err := Compile(context.Background(), lib, src); err == nil || !strings.Contains(err.Error(), src) {
		t.Errorf("a source that does not compile: %v, want an error naming %s", err, src)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(lib, "*.tmp")); len(leftovers) > 0 {
		t.Errorf("a failed compile left %v", leftovers)
	}
}
