package schemaregistry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/stream"
)

// TestClientAgainstEmbedded runs the external-registry client against the embedded registry served over
// HTTP (behind basic authentication, as Confluent Cloud is): register, cache, fetch by id, compatibility
// levels and a refusal that names the field.
func TestClientAgainstEmbedded(t *testing.T) {
	a := newAPI(t, nil)
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if user, pass, ok := r.BasicAuth(); !ok || user != "key" || pass != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":401,"message":"Unauthorized"}`))
			return
		}
		a.h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	wrong, err := NewClient(srv.URL, ClientOptions{Username: "key", Password: "guess"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Register(ctx, "s", stream.RegisteredSchema{Schema: paymentV1}); ErrorCode(err) != 401 || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("wrong password: %v, want a 401 naming the registry", err)
	}

	c, err := NewClient(srv.URL+"/", ClientOptions{Username: "key", Password: "secret", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	subject := "my topic/with slash-value" // escaped in the path
	id, err := c.Register(ctx, subject, stream.RegisteredSchema{Schema: paymentV1})
	if err != nil || id != 1 {
		t.Fatalf("Register: %d, %v", id, err)
	}
	before := requests.Load()
	if id2, err := c.Register(ctx, subject, stream.RegisteredSchema{Type: "AVRO", Schema: paymentV1}); err != nil || id2 != id {
		t.Fatalf("Register again: %d, %v", id2, err)
	}
	if requests.Load() != before {
		t.Errorf("registering the same schema again cost %d requests, want 0 (cached)", requests.Load()-before)
	}
	if names, _ := a.call("GET", "/subjects", ""); names != 200 {
		t.Fatal("GET /subjects failed")
	}
	a.expect("GET", "/subjects", "", 200, `["my topic/with slash-value"]`)

	// A fresh client fetches by id over HTTP, then from its cache.
	fresh, _ := NewClient(srv.URL, ClientOptions{Username: "key", Password: "secret"})
	s, err := fresh.SchemaByID(ctx, id)
	if err != nil || s.Type != "AVRO" || s.Schema != paymentV1Text {
		t.Fatalf("SchemaByID: %+v, %v", s, err)
	}
	before = requests.Load()
	if _, err := fresh.SchemaByID(ctx, id); err != nil || requests.Load() != before {
		t.Errorf("second SchemaByID: %v, %d requests", err, requests.Load()-before)
	}
	if _, err := fresh.SchemaByID(ctx, 42); ErrorCode(err) != CodeSchemaNotFound {
		t.Errorf("SchemaByID(42): %v, want error code 40403", err)
	}

	if level, err := c.Compatibility(ctx, subject); err != nil || level != Backward {
		t.Errorf("Compatibility: %q, %v; want BACKWARD (the global default)", level, err)
	}
	if err := c.SetCompatibility(ctx, subject, "forward"); err != nil {
		t.Fatal(err)
	}
	if level, err := c.Compatibility(ctx, subject); err != nil || level != Forward {
		t.Errorf("Compatibility: %q, %v; want FORWARD", level, err)
	}
	if err := c.SetCompatibility(ctx, "", FullTransitive); err != nil {
		t.Fatal(err)
	}
	if level, err := c.Compatibility(ctx, ""); err != nil || level != FullTransitive {
		t.Errorf("global Compatibility: %q, %v", level, err)
	}
	if err := c.SetCompatibility(ctx, subject, "SIDEWAYS"); ErrorCode(err) != CodeInvalidCompatibility {
		t.Errorf("SetCompatibility(SIDEWAYS): %v", err)
	}

	_, err = c.Register(ctx, subject, stream.RegisteredSchema{Schema: paymentV3})
	if !errors.Is(err, stream.ErrIncompatibleSchema) {
		t.Fatalf("incompatible schema: %v, want stream.ErrIncompatibleSchema", err)
	}
	want := `field "amount" (in record my.examples.Payment) was removed and has no default in the previous version 1`
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "FORWARD") {
		t.Errorf("refusal %q does not name the field and the rule (%q)", err, want)
	}

	// A registry that does not answer in time.
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stuck.Close()
	slow, _ := NewClient(stuck.URL, ClientOptions{Timeout: 100 * time.Millisecond})
	if _, err := slow.SchemaByID(ctx, 1); ErrorCode(err) != CodeTimeout || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("stuck registry: %v, want a timeout error", err)
	}

	if _, err := NewClient("localhost:8081", ClientOptions{}); err == nil {
		t.Error("NewClient accepted a URL without scheme")
	}
}
