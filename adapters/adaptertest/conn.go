package adaptertest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ConnLog records what an adapter reports of its connection
// (platform.Conn): "up", or "down: " and the reason.
type ConnLog struct {
	mu     sync.Mutex
	events []string
}

// Up records "up".
func (c *ConnLog) Up() { c.add("up") }

// Down records "down: " and err.
func (c *ConnLog) Down(err error) { c.add("down: " + err.Error()) }

func (c *ConnLog) add(e string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
}

// Len is how many reports there were.
func (c *ConnLog) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// Events are the reports from the n-th on.
func (c *ConnLog) Events(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events[min(n, len(c.events)):])
}

// WaitFor waits until the reports from the from-th on hold the reports
// want in order (others may come between them); a want ending in "…"
// matches any report with that beginning. It returns the position after
// the last one matched.
func (c *ConnLog) WaitFor(t testing.TB, from int, want ...string) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if n, ok := match(c.Events(from), want); ok {
			return from + n
		}
		if time.Now().After(deadline) {
			t.Fatalf("the adapter reported %q, want %q in that order", c.Events(from), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func match(events, want []string) (int, bool) {
	i := 0
	for _, w := range want {
		found := false
		for ; i < len(events); i++ {
			e := events[i]
			if e == w || strings.HasSuffix(w, "…") && strings.HasPrefix(e, strings.TrimSuffix(w, "…")) {
				found = true
				i++
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	return i, true
}
