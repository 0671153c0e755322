package ilink

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/internal/redact"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig is the [wechat] defaults for a fake server, with the state
// file in dir.
func testConfig(f *fakeILink, dir string) Config {
	return Config{
		BaseURL:    f.qr.URL,
		StateFile:  filepath.Join(dir, "state", "wechat-ilink.json"),
		PartChars:  600,
		MaxParts:   6,
		UpTokens:   []string{"+1", "好"},
		DownTokens: []string{"-1", "差"},
		MediaReply: "目前只能处理文字消息。(Text only for now.)",
	}
}

// running is an adapter started on a fake server.
type running struct {
	a      *Adapter
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
	qr     *syncBuffer
}

// startAdapter runs an adapter on the fake server until stop (or the
// test's end), with the reference's pauses shortened.
func startAdapter(t *testing.T, cfg Config, h bot.Handler, opts ...Option) *running {
	t.Helper()
	return startAdapterWith(t, cfg, h, nil, opts...)
}

// startAdapterWith is startAdapter with its log masked by secrets (nil:
// unmasked) and the adapter registering its runtime secrets there.
func startAdapterWith(t *testing.T, cfg Config, h bot.Handler, secrets *redact.Secrets, opts ...Option) *running {
	t.Helper()
	r := &running{logs: &syncBuffer{}, qr: &syncBuffer{}, done: make(chan error, 1)}
	var lh slog.Handler = slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	opts = append([]Option{WithHTTPClient(&http.Client{}), WithQROutput(r.qr), WithCodeInput(nil)}, opts...)
	if secrets != nil {
		lh = redact.NewHandler(lh, secrets)
		opts = append(opts, WithRedactor(secrets.Add))
	}
	a, err := New(cfg, h, slog.New(lh), opts...)
	if err != nil {
		t.Fatal(err)
	}
	a.retryDelay = 20 * time.Millisecond
	a.backoffDelay = 100 * time.Millisecond
	a.qrPause = 10 * time.Millisecond
	a.maxLoginBackoff = 200 * time.Millisecond
	a.keepTyping = 50 * time.Millisecond
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

// loggedIn reports whether the adapter has a live session.
func (r *running) loggedIn() bool { return r.a.current() != nil }

// qrLogin plays the phone: it waits for the n-th QR code, scans it and
// confirms the login, and waits until the adapter is logged in. It
// returns the bot token issued.
func qrLogin(t *testing.T, f *fakeILink, r *running, n int) string {
	t.Helper()
	code := f.waitQR(t, n)
	waitFor(t, "the QR code in the terminal", 5*time.Second, func() bool {
		return strings.Count(r.qr.String(), "Scan this QR code") >= 1 && strings.Contains(r.qr.String(), code)
	})
	f.setQR(code, qrScanned)
	tok := f.setQR(code, qrConfirmed)
	waitFor(t, "login", 10*time.Second, func() bool {
		l := r.a.current()
		return l != nil && l.acct.Token == tok
	})
	return tok
}

// startCore runs the real conversation core with the demo generator.
func startCore(t *testing.T, store bot.FeedbackStore, abProbability float64) *bot.Core {
	t.Helper()
	return startCoreWith(t, store, abProbability, demo.New())
}

// startCoreWith runs the real core with generator gen.
func startCoreWith(t *testing.T, store bot.FeedbackStore, abProbability float64, gen bot.Generator) *bot.Core {
	t.Helper()
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0
	cfg.Workers = 2
	cfg.ABProbability = abProbability
	core, err := bot.NewCore(bot.Options{Config: cfg, Generator: gen, Store: store, MaxTokens: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = core.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return core
}

// testStore is the real bbolt feedback store, read back through its raw
// export (adaptertest).
type testStore struct {
	*feedback.Store
	t *testing.T
}

func openTestStore(t *testing.T, dir string) *testStore {
	t.Helper()
	s, err := feedback.Open(filepath.Join(dir, "feedback.db"), feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &testStore{Store: s, t: t}
}

func (s *testStore) raw(id bot.AnswerID) (feedback.RawRow, bool) {
	return adaptertest.Row(s.t, s.Store, id)
}

func (s *testStore) voteOf(id bot.AnswerID, voter string) (int, bool) {
	return adaptertest.VoteOf(s.t, s.Store, Platform, id, bot.UserID(voter))
}

func (s *testStore) choiceOf(winner, loser bot.AnswerID, voter string) bool {
	return adaptertest.ChoiceOf(s.t, s.Store, Platform, winner, loser, bot.UserID(voter))
}

// answerOf finds the finished answer a sent message shows.
func answerOf(t *testing.T, store *testStore, msgID string) bot.Answer {
	t.Helper()
	ctx := context.Background()
	var a bot.Answer
	waitFor(t, "the answer of message "+msgID, 5*time.Second, func() bool {
		id, err := store.AnswerByMessage(ctx, Platform, bot.MessageID(msgID))
		if err != nil {
			return false
		}
		a, err = store.Answer(ctx, id)
		return err == nil && a.Finished
	})
	return a
}

func waitVote(t *testing.T, store *testStore, id bot.AnswerID, voter string, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("vote %+d by %s on %s", want, voter, id), 5*time.Second, func() bool {
		v, ok := store.voteOf(id, voter)
		return ok && v == want
	})
}
