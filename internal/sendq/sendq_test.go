package sendq

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestQueue: with every sender blocked, Add queues up to the capacity in
// and drops the newest beyond it (calling drop, counting, logging a
// count); once unblocked every queued send runs, in order, and Wait
// returns.
func TestQueue(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	const senders, capacity, extra = 3, 10, 8
	q := New("test", log, senders, capacity, time.Minute)
	release := make(chan struct{})
	var running, peak atomic.Int64
	var mu sync.Mutex
	var order []int
	var dropped atomic.Int64
	for i := range senders + capacity + extra {
		q.Add(context.Background(), func(ctx context.Context) {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-release
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			running.Add(-1)
		}, func() { dropped.Add(1) })
	}
	if got := dropped.Load(); got != extra || q.Dropped() != extra {
		t.Errorf("%d dropped (Dropped says %d), want %d", got, q.Dropped(), extra)
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "dropped=8") {
		t.Errorf("the log does not give the count:\n%s", logs.String())
	}
	logMu.Unlock()
	close(release)
	q.Wait()
	if peak.Load() > senders {
		t.Errorf("%d sends ran at once, want at most %d", peak.Load(), senders)
	}
	if len(order) != senders+capacity {
		t.Fatalf("%d sends ran, want %d", len(order), senders+capacity)
	}
	slices.Sort(order)
	for i, v := range order {
		if v != i {
			t.Errorf("sends %v ran, want the first %d added (the newest dropped)", order, senders+capacity)
			break
		}
	}
}

// TestCancelledSendDropped: a send whose context is done before its turn
// is not run; its drop is called.
func TestCancelledSendDropped(t *testing.T) {
	q := New("test", nil, 1, 4, time.Minute)
	release := make(chan struct{})
	q.Add(context.Background(), func(context.Context) { <-release }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var ran, dropped atomic.Bool
	q.Add(ctx, func(context.Context) { ran.Store(true) }, func() { dropped.Store(true) })
	cancel()
	close(release)
	q.Wait()
	if ran.Load() || !dropped.Load() {
		t.Errorf("ran %v, dropped %v; want not run and dropped", ran.Load(), dropped.Load())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
