package bot_test

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
)

// blockingReplier's Send blocks until released, as over a platform API
// that hangs; it counts the sends in flight.
type blockingReplier struct {
	mu       *sync.Mutex
	inFlight *int
	peak     *int
	sent     *int
	release  chan struct{}
	done     chan struct{}
}

func (b blockingReplier) Send(ctx context.Context, _ string) error {
	b.mu.Lock()
	*b.inFlight++
	*b.peak = max(*b.peak, *b.inFlight)
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	b.mu.Lock()
	*b.inFlight--
	*b.sent++
	b.mu.Unlock()
	return nil
}

func (b blockingReplier) Stream(context.Context, bot.Outgoing, <-chan string) error { return nil }
func (b blockingReplier) Complete()                                                 { close(b.done) }

// TestNoticesBounded: with the platform hanging, a flood of rate-limited
// messages holds at most bot.MaxNotices notice sends at once and queues
// bot.NoticeQueue more, which are sent once the platform answers; the rest
// are dropped, and every message is still completed (dropped notices
// included).
func TestNoticesBounded(t *testing.T) {
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute, cfg.RateBurst = 0.001, 1
	c := startCore(t, cfg, demo.New(), nil)
	var mu sync.Mutex
	var inFlight, peak, sent int
	release := make(chan struct{})
	const flood = bot.MaxNotices + bot.NoticeQueue + 100
	var dones []chan struct{}
	first := newRecorder()
	c.HandleMessage(context.Background(), bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: "hi", IsDirect: true}, first)
	first.wait(t)
	for range flood {
		r := blockingReplier{mu: &mu, inFlight: &inFlight, peak: &peak, sent: &sent, release: release, done: make(chan struct{})}
		dones = append(dones, r.done)
		c.HandleMessage(context.Background(), bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: "hi", IsDirect: true}, r)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	got := peak
	mu.Unlock()
	close(release)
	for _, d := range dones {
		select {
		case <-d:
		case <-time.After(10 * time.Second):
			t.Fatal("a message was never completed")
		}
	}
	if got > bot.MaxNotices || got == 0 {
		t.Errorf("%d notices in flight at once for %d messages, want 1..%d", got, flood, bot.MaxNotices)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := bot.MaxNotices + bot.NoticeQueue; sent != want {
		t.Errorf("%d notices sent once the platform answered, want the %d held and queued", sent, want)
	}
}

// TestSamplingValidate: NaN, infinities and out-of-range sampling values
// are refused, naming the key; the defaults and the documented "off"
// values pass.
func TestSamplingValidate(t *testing.T) {
	good := []bot.Sampling{
		{},
		{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1},
		{Temperature: 2, TopP: 1, MinP: 1, RepeatPenalty: 1},
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	bad := []struct {
		s   bot.Sampling
		key string
	}{
		{bot.Sampling{TopP: math.NaN()}, "top_p"},
		{bot.Sampling{TopP: 5}, "top_p"},
		{bot.Sampling{TopP: -0.1}, "top_p"},
		{bot.Sampling{Temperature: -5}, "temperature"},
		{bot.Sampling{Temperature: math.NaN()}, "temperature"},
		{bot.Sampling{Temperature: math.Inf(1)}, "temperature"},
		{bot.Sampling{MinP: math.NaN()}, "min_p"},
		{bot.Sampling{MinP: 2}, "min_p"},
		{bot.Sampling{TopK: -1}, "top_k"},
		{bot.Sampling{RepeatPenalty: math.NaN()}, "repeat_penalty"},
		{bot.Sampling{RepeatPenalty: -1}, "repeat_penalty"},
	}
	for _, b := range bad {
		err := b.s.Validate()
		if err == nil || !strings.Contains(err.Error(), b.key) {
			t.Errorf("%+v: %v, want an error naming %s", b.s, err, b.key)
		}
	}
	if _, err := bot.NewCore(bot.Options{Config: bot.DefaultConfig(), Generator: demo.New(), Sampling: bot.Sampling{TopP: math.NaN()}}); err == nil {
		t.Error("NewCore accepted top_p = NaN")
	}
}

// TestBoundsOnWorkersAndQueue: absurd workers and queue_size values are
// refused by Validate rather than panicking in makechan.
func TestBoundsOnWorkersAndQueue(t *testing.T) {
	for _, tc := range []struct {
		tweak func(*bot.Config)
		key   string
	}{
		{func(c *bot.Config) { c.QueueSize = 1 << 62 }, "queue_size"},
		{func(c *bot.Config) { c.QueueSize = bot.MaxQueueSize + 1 }, "queue_size"},
		{func(c *bot.Config) { c.Workers = 1 << 40 }, "workers"},
		{func(c *bot.Config) { c.Workers = bot.MaxWorkers + 1 }, "workers"},
	} {
		cfg := bot.DefaultConfig()
		tc.tweak(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%+v: %v, want an error naming %s", cfg, err, tc.key)
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("NewCore panicked: %v", p)
				}
			}()
			if _, err := bot.NewCore(bot.Options{Config: cfg, Generator: demo.New()}); err == nil {
				t.Errorf("NewCore accepted %s", tc.key)
			}
		}()
	}
	cfg := bot.DefaultConfig()
	cfg.Workers, cfg.QueueSize = bot.MaxWorkers, bot.MaxQueueSize
	if err := cfg.Validate(); err != nil {
		t.Errorf("the upper bounds themselves: %v", err)
	}
}

// syncLog is a log sink safe for the core's goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// coreOnClosedStore runs a core (demo answers, no rate limit) whose
// feedback store is a real database closed under it, logging to the
// returned buffer; the test's cleanup stops it.
func coreOnClosedStore(t *testing.T) (*bot.Core, *syncLog) {
	t.Helper()
	st := openStore(t)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0
	core, err := bot.NewCore(bot.Options{Config: cfg, Generator: demo.New(), Store: st, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = core.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return core, logs
}

// TestFailingStoreVisible: with a feedback database that fails (a real one,
// closed under the core), each answer's recording error is logged at error
// level and counted, and after repeated failures the bot tells the chat
// that feedback is not being recorded instead of pretending.
func TestFailingStoreVisible(t *testing.T) {
	core, logs := coreOnClosedStore(t)

	var notices []string
	for i := range bot.StoreFailuresBeforeNotice + 1 {
		r := newRecorder()
		core.HandleMessage(context.Background(), bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: "question " + string(rune('a'+i)), IsDirect: true}, r)
		r.wait(t)
		n, answers := r.output()
		if len(answers) != 1 {
			t.Fatalf("message %d: %d answers, want 1 (a failing store must not stop answers)", i, len(answers))
		}
		notices = append(notices, strings.Join(n, "|"))
	}
	if got := core.RecordFailures(); got != bot.StoreFailuresBeforeNotice+1 {
		t.Errorf("RecordFailures = %d, want %d", got, bot.StoreFailuresBeforeNotice+1)
	}
	if n := strings.Count(logs.String(), "level=ERROR msg=\"recording answer\""); n != bot.StoreFailuresBeforeNotice+1 {
		t.Errorf("%d recording errors logged at error level, want %d:\n%s", n, bot.StoreFailuresBeforeNotice+1, logs)
	}
	for i, n := range notices {
		says := strings.Contains(n, "not being recorded")
		if want := i+1 >= bot.StoreFailuresBeforeNotice; says != want {
			t.Errorf("answer %d: notices %q; want the not-recording notice: %v", i, n, want)
		}
	}
}

// TestFailingVotesVisible: votes the feedback store fails to record (a
// real database, closed under the core) are logged at error level and
// counted (Core.VoteFailures), and after StoreFailuresBeforeNotice
// failures in a row the voter is told the vote was not recorded, on
// reactions (buttons) as on /good.
func TestFailingVotesVisible(t *testing.T) {
	core, logs := coreOnClosedStore(t)

	n := bot.StoreFailuresBeforeNotice + 2
	for i := range n {
		r := newRecorder()
		kind := bot.ReactionUp
		if i%2 == 1 {
			kind = bot.ReactionDown
		}
		core.HandleReaction(context.Background(), bot.Reaction{Platform: "test", ChatID: "dm", UserID: "u", Kind: kind, AnswerID: "01JANSWER"}, r)
		r.wait(t)
		notices, _ := r.output()
		told := len(notices) == 1 && strings.Contains(notices[0], "not recorded")
		if want := i+1 >= bot.StoreFailuresBeforeNotice; told != want {
			t.Errorf("vote %d: notices %q; want the not-recorded notice: %v", i+1, notices, want)
		}
	}
	if got := core.VoteFailures(); got != int64(n) {
		t.Errorf("VoteFailures = %d, want %d", got, n)
	}
	if got := strings.Count(logs.String(), "level=ERROR msg=\"recording vote\""); got != n {
		t.Errorf("%d vote failures logged at error level, want %d:\n%s", got, n, logs)
	}
}
