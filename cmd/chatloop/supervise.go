package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
)

// Restart policy of "chatloop run" for an adapter whose Run returns an
// error. Adapters retry passing troubles (a dropped connection, a platform
// outage) themselves; an error that reaches the command is retried after
// a pause that doubles from restartFirst up to restartMax, unless it is
// permanent (platform.ErrPermanent) or the adapter failed maxRestarts
// times in a row, each time within stableRun of starting.
const (
	restartFirst = time.Second
	restartMax   = time.Minute
	maxRestarts  = 5
	stableRun    = 2 * time.Minute
)

// supervisor runs the adapters and reports when every one of them has
// stopped for good.
type supervisor struct {
	log *slog.Logger
	// sleep waits d or until ctx is done (tests shorten it).
	sleep func(ctx context.Context, d time.Duration) bool

	mu      sync.Mutex
	running int
	failed  map[string]error // adapters that stopped for good
	allDown chan struct{}    // closed when the last adapter stopped for good
}

func newSupervisor(log *slog.Logger, adapters int) *supervisor {
	return &supervisor{log: log, sleep: sleepCtx, running: adapters, failed: map[string]error{}, allDown: make(chan struct{})}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run runs one adapter until ctx is done or it stops for good; started
// and stopped are told about each run (for the dashboard and metrics).
func (s *supervisor) run(ctx context.Context, name string, f func(context.Context) error) {
	wait := restartFirst
	failures := 0
	for {
		begun := time.Now()
		err := f(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped without an error")
		}
		if time.Since(begun) >= stableRun {
			failures, wait = 0, restartFirst
		}
		failures++
		if errors.Is(err, platform.ErrPermanent) || failures > maxRestarts {
			s.log.Error("adapter stopped for good", "adapter", name, "err", err)
			s.giveUp(name, err)
			return
		}
		s.log.Warn("adapter stopped; restarting it", "adapter", name, "err", err, "in", wait, "attempt", failures)
		if !s.sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, restartMax)
	}
}

func (s *supervisor) giveUp(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[name] = err
	s.running--
	if s.running == 0 {
		close(s.allDown)
	}
}

// err says why every adapter stopped: "every adapter stopped: discord:
// …; wecom: …". An adapter's own name leading its error is not repeated.
func (s *supervisor) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.failed))
	for n := range s.failed {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + strings.TrimPrefix(s.failed[n].Error(), n+": ")
	}
	return fmt.Errorf("every adapter stopped: %s", strings.Join(parts, "; "))
}

// forwardHandler hands adapters' events to the core, which is built after
// the adapters (so that their configuration and secrets are checked
// before the model loads). Handler is set before any adapter runs.
type forwardHandler struct{ bot.Handler }
