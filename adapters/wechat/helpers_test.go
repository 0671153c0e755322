package wechat

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
)

// syncBuffer collects log output from several goroutines.
type syncBuffer = adaptertest.SyncBuffer

// testConfig is the default configuration with short send intervals and
// files in dir.
func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.StorageFile = filepath.Join(dir, "login", "wechat-login.json")
	cfg.ChatInterval = bot.Duration{Duration: 250 * time.Millisecond}
	cfg.GlobalInterval = bot.Duration{Duration: 120 * time.Millisecond}
	cfg.Jitter = bot.Duration{Duration: 30 * time.Millisecond}
	return cfg
}

// running is an adapter started on a fake server.
type running struct {
	a      *Adapter
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
	qr     *syncBuffer
}

// startAdapter builds an adapter for the fake server, applies tweaks, and
// runs it until stop (or the test's end).
func startAdapter(t *testing.T, f *fakeWeChat, cfg Config, h bot.Handler, tweaks ...func(*Adapter)) *running {
	t.Helper()
	r := &running{logs: &syncBuffer{}, qr: &syncBuffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, h, log, WithHTTPClient(f.client()), WithQROutput(r.qr))
	if err != nil {
		t.Fatal(err)
	}
	a.loginBackoff = 50 * time.Millisecond
	a.syncBackoff = 20 * time.Millisecond
	a.minSession = 0 // tests drop sessions seconds after a login
	for _, tw := range tweaks {
		tw(a)
	}
	r.a = a
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the adapter and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatal("Run did not return after cancel")
	}
}

// qrLogin plays the phone: it waits for the server's n-th login uuid and
// for this adapter's shown-th QR code, scans it and confirms the login,
// then waits until the adapter is logged in.
func qrLogin(t *testing.T, f *fakeWeChat, r *running, n, shown int) string {
	t.Helper()
	uuid := f.waitQR(t, n)
	waitFor(t, "QR code in the terminal", 5*time.Second, func() bool {
		return strings.Count(r.qr.String(), "Scan this QR code") >= shown
	})
	f.scan(uuid)
	f.confirm(uuid)
	waitLoggedIn(t, r)
	return uuid
}

// waitLoggedIn waits until the adapter has a live session.
func waitLoggedIn(t *testing.T, r *running) {
	t.Helper()
	waitFor(t, "login", 10*time.Second, func() bool {
		r.a.mu.Lock()
		defer r.a.mu.Unlock()
		return r.a.cur != nil
	})
}

// recorder is a bot.Handler that records what the adapter hands it.
type recorder struct {
	mu        sync.Mutex
	messages  []bot.Message
	reactions []bot.Reaction
	withdrawn []bot.MessageID
	repliers  []bot.Replier
}

func (h *recorder) HandleMessage(_ context.Context, m bot.Message, r bot.Replier) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.messages = append(h.messages, m)
	h.repliers = append(h.repliers, r)
}

func (h *recorder) HandleReaction(_ context.Context, x bot.Reaction, _ bot.Replier) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reactions = append(h.reactions, x)
}

func (h *recorder) Withdraw(_ string, _ bot.ChatID, msg bot.MessageID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.withdrawn = append(h.withdrawn, msg)
}

func (h *recorder) counts() (msgs, reactions int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.messages), len(h.reactions)
}
