package sqltable

import (
	"encoding/json"
	"testing"
	"time"
)

// encode writes what json.Marshal writes, and parsePosition reads it back.
func TestPositionEncoding(t *testing.T) {
	ts := time.Date(2024, 5, 1, 10, 20, 30, 123456000, time.UTC)
	inc := int64(-42)
	for _, p := range []Position{{}, {Timestamp: &ts}, {Incrementing: &inc}, {Timestamp: &ts, Incrementing: &inc},
		{Row: 7}, {Row: 7, Done: true}, {Done: true}} {
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got := p.encode()
		if string(got) != string(want) {
			t.Errorf("encode %s, json.Marshal %s", got, want)
		}
		back, err := parsePosition(got)
		if err != nil {
			t.Fatal(err)
		}
		if string(back.encode()) != string(got) {
			t.Errorf("%s read back as %s", got, back.encode())
		}
	}
	if _, err := parsePosition([]byte(`{"timestamp":"yesterday"}`)); err == nil {
		t.Error("a position with a bad timestamp parsed")
	}
}
