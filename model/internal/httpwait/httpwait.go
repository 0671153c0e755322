// Package httpwait holds the waiting that model's HTTP clients (hub
// downloads, the OpenAI-compatible client) share: honouring a server's
// Retry-After, and sleeping in a way a context can cut short.
package httpwait

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// RetryAfter reads a Retry-After header (seconds, fractions accepted, or an
// HTTP date) as a wait between 0 and limit; 0 when absent or unreadable.
func RetryAfter(h http.Header, limit time.Duration) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		d = time.Duration(s * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return max(0, min(d, limit))
}

// Sleep waits d, or returns ctx's error as soon as ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
