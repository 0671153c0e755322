package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeCapsConnections: beyond maxConnections, connections wait in the
// kernel's backlog rather than each holding a header buffer.
func TestServeCapsConnections(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", h, slog.New(slog.DiscardHandler), func(a net.Addr) { addrc <- a })
	}()
	defer func() { cancel(); <-done }()
	addr := (<-addrc).String()
	var stalled []net.Conn
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	for range maxConnections {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		stalled = append(stalled, c)
	}
	time.Sleep(200 * time.Millisecond)
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	select {
	case code := <-got:
		t.Fatalf("served (%d) while %d stalled connections held every slot", code, maxConnections)
	case <-time.After(500 * time.Millisecond):
	}
	stalled[0].Close()
	select {
	case code := <-got:
		if code != http.StatusNoContent {
			t.Errorf("after a slot freed: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request never got a slot")
	}
}
