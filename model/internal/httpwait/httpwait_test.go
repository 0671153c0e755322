package httpwait

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	h := http.Header{}
	for v, want := range map[string]time.Duration{"": 0, "2": 2 * time.Second, "0.5": 500 * time.Millisecond, "-3": 0, "soon": 0, "100000": 2 * time.Minute} {
		h.Set("Retry-After", v)
		if got := RetryAfter(h, 2*time.Minute); got != want {
			t.Errorf("Retry-After %q: got %v, want %v", v, got, want)
		}
	}
	h.Set("Retry-After", time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat))
	if got := RetryAfter(h, 2*time.Minute); got < 28*time.Second || got > 31*time.Second {
		t.Errorf("Retry-After as a date: got %v, want about 30s", got)
	}
}

func TestSleepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
