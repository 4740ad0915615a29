package schemaregistry

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRegistryAPIInteropConfluentPythonClient serves the embedded registry over HTTP and drives it with
// Confluent's own Python client (confluent-kafka 2.16.1 from test/python/.venv, `make python-venv`):
// register, get by id, lookup, latest, versions, subjects, compatibility get/set/test, the 409 refusal,
// error codes, the AvroSerializer/AvroDeserializer round trip in Confluent's wire format, JSON schemas and
// deletes (testdata/confluent_client.py checks each answer).
func TestRegistryAPIInteropConfluentPythonClient(t *testing.T) {
	if os.Getenv("SLUICE_TEST_INTEROP") != "1" {
		t.Skip("an interop test (Confluent's Python client): run it with `make test-interop` (SLUICE_TEST_INTEROP=1)")
	}
	python, err := filepath.Abs(filepath.Join("..", "test", "python", ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("Confluent's Python client is not installed (%v): run `make python-venv`", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := OpenEmbedded(ctx, NewMemoryLog(), EmbeddedOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	out, err := exec.CommandContext(ctx, python, filepath.Join("testdata", "confluent_client.py"), "http://"+ln.Addr().String()).CombinedOutput()
	t.Logf("Confluent's Python client:\n%s", out)
	if err != nil {
		t.Fatalf("Confluent's Python client failed: %v", err)
	}
}
