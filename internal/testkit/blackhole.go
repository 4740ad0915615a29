package testkit

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// BlackHole is a TCP listener on 127.0.0.1 that accepts every connection and never answers: a hung
// broker, database or search server (a SIGSTOPped process, a black-holed route). It closes with the test.
type BlackHole struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

// StartBlackHole listens on a free port until the test ends.
func StartBlackHole(t testing.TB) *BlackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &BlackHole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c) // held open, never answered
			b.mu.Unlock()
			b.accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	return b
}

// Addr is the host:port to point a client at.
func (b *BlackHole) Addr() string { return b.ln.Addr().String() }

// Accepted counts the connections accepted so far.
func (b *BlackHole) Accepted() int64 { return b.accepted.Load() }
