// Package searchdemotest holds the test helpers the shop-search examples' tests share (examples/mysql-to-es
// and examples/postgres-to-es): reading the orders index normalised for comparison with the database,
// waiting for the two to converge, and collecting what a run says. Only tests import it.
package searchdemotest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
)

// Docs are order documents by id: the order's columns, created_at in Unix microseconds, amount as the
// decimal's digits, and customer (id, name, email) or nil.
type Docs = map[string]map[string]any

// DocsFromDB runs query on db (within a minute) and returns the order documents its rows call for. query
// returns, for each order, its id, customer_id, amount as text, status, created_at in Unix microseconds, and
// its customer's id, name and email (NULL when the customer does not exist).
func DocsFromDB(t testing.TB, db *sql.DB, query string) Docs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := Docs{}
	for rows.Next() {
		var id, customerID, created int64
		var amount, status string
		var cid *int64
		var name, email *string
		if err := rows.Scan(&id, &customerID, &amount, &status, &created, &cid, &name, &email); err != nil {
			t.Fatal(err)
		}
		doc := map[string]any{"id": id, "customer_id": customerID, "amount": amount, "status": status, "created_at": created, "customer": nil}
		if cid != nil {
			doc["customer"] = map[string]any{"id": *cid, "name": *name, "email": *email}
		}
		out[fmt.Sprint(id)] = doc
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Indexed reads every document of the orders index, normalised like the tests' expected documents (nil when
// the index does not exist yet).
func Indexed(t testing.TB, client *es.Client) Docs {
	t.Helper()
	res, err := client.Search(client.Search.WithIndex("orders"), client.Search.WithSize(10000))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusNotFound {
		return nil
	}
	var r struct {
		Hits struct {
			Hits []struct {
				ID     string         `json:"_id"`
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // amounts keep the digits Elasticsearch holds
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("search: %s", body)
	}
	out := Docs{}
	for _, h := range r.Hits.Hits {
		doc := map[string]any{}
		for k, v := range h.Source {
			switch k {
			case "amount": // a JSON number with the database's digits ("10.50"), mapped scaled_float
				n, ok := v.(json.Number)
				if !ok {
					t.Fatalf("order %s: amount %v (%T) is not a JSON number", h.ID, v, v)
				}
				doc[k] = string(n)
			case "id", "customer_id":
				doc[k] = jsonInt(v)
			case "created_at": // an ISO-8601 string with microseconds, mapped date
				s, _ := v.(string)
				ts, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					t.Fatalf("order %s: created_at %v is not ISO-8601: %v", h.ID, v, err)
				}
				doc[k] = ts.UnixMicro()
			case "customer":
				if c, ok := v.(map[string]any); ok {
					doc[k] = map[string]any{"id": jsonInt(c["id"]), "name": c["name"], "email": c["email"]}
				} else {
					doc[k] = nil
				}
			default:
				doc[k] = v
			}
		}
		out[h.ID] = doc
	}
	return out
}

func jsonInt(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

// Converge waits until the orders index equals want() (the documents the database's state calls for),
// refreshing the index before each comparison, and fails t after 90 seconds showing both. database names
// the database in the messages ("MySQL", "PostgreSQL").
func Converge(t testing.TB, client *es.Client, database, what string, want func(testing.TB) Docs) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, _ := client.Indices.Refresh(client.Indices.Refresh.WithIndex("orders"))
		if res != nil {
			res.Body.Close()
		}
		w, got := want(t), Indexed(t, client)
		if fmt.Sprint(w) == fmt.Sprint(got) {
			t.Logf("%s: %d order documents equal %s", what, len(w), database)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: Elasticsearch did not converge to %s:\n want %v\n got  %v", what, database, w, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Lines collects what a run says (its say function is Say), safe for the generator's and the reporter's
// goroutines.
type Lines struct {
	mu    sync.Mutex
	lines []string
}

// Say records one line, formatted as fmt.Sprintf does.
func (s *Lines) Say(f string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, fmt.Sprintf(f, a...))
}

// Find returns the first line said that contains substr, or "".
func (s *Lines) Find(substr string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// All returns a copy of every line said so far.
func (s *Lines) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}
