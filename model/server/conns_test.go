package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestConnectionsCapped: connections beyond Limits.MaxConnections wait in
// the kernel's backlog instead of each holding up to 64 KiB of headers for
// ten seconds; a request gets through once a slot frees.
func TestConnectionsCapped(t *testing.T) {
	s := New(&recorder{Generator: tinyEngine(t)}, Config{ModelID: "m", Limits: Limits{MaxConnections: 2}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	addr := ln.Addr().String()
	var stalled []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ") // headers never end
		stalled = append(stalled, c)
	}
	time.Sleep(100 * time.Millisecond)
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/v1/health")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	select {
	case code := <-got:
		t.Fatalf("a request was served (%d) while the stalled connections held every slot", code)
	case <-time.After(500 * time.Millisecond):
	}
	stalled[0].Close()
	select {
	case code := <-got:
		if code != http.StatusOK {
			t.Errorf("health after a slot freed: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request never got a slot")
	}
	stalled[1].Close()
}
