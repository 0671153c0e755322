package bot_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
)

// recorder is a Replier that keeps what the core shows.
type recorder struct {
	mu      sync.Mutex
	notices []string
	answers []string
	labels  []string
	ids     []bot.AnswerID
	done    chan struct{}
	once    sync.Once
	started chan struct{} // closed when the first answer starts streaming
	sonce   sync.Once
}

func newRecorder() *recorder {
	return &recorder{done: make(chan struct{}), started: make(chan struct{})}
}

func (r *recorder) Send(_ context.Context, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, text)
	return nil
}

func (r *recorder) Stream(ctx context.Context, out bot.Outgoing, tokens <-chan string) error {
	var b strings.Builder
	r.sonce.Do(func() { close(r.started) })
	if out.Sent != nil {
		out.Sent(bot.MessageID("msg-" + string(out.AnswerID)))
	}
	for tok := range tokens {
		b.WriteString(tok)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, b.String())
	r.labels = append(r.labels, out.Label)
	r.ids = append(r.ids, out.AnswerID)
	return ctx.Err()
}

func (r *recorder) Complete() { r.once.Do(func() { close(r.done) }) }

func (r *recorder) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the core never completed the message")
	}
}

func (r *recorder) output() (notices, answers []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.notices...), append([]string(nil), r.answers...)
}

// promptLog wraps a generator and keeps the prompts it was given.
type promptLog struct {
	bot.Generator
	mu      sync.Mutex
	prompts [][]bot.Turn
}

func (p *promptLog) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	p.mu.Lock()
	p.prompts = append(p.prompts, req.Messages)
	p.mu.Unlock()
	return p.Generator.Generate(ctx, req, onToken)
}

func (p *promptLog) last() []bot.Turn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.prompts) == 0 {
		return nil
	}
	return p.prompts[len(p.prompts)-1]
}

type testCore struct {
	*bot.Core
	gen *promptLog
}

func startCore(t *testing.T, cfg bot.Config, gen bot.Generator, store bot.FeedbackStore) testCore {
	t.Helper()
	pl := &promptLog{Generator: gen}
	opts := bot.Options{Config: cfg, Generator: pl, MaxTokens: 1000}
	if store != nil {
		opts.Store = store
	}
	c, err := bot.NewCore(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return testCore{c, pl}
}

// ask hands m to the core and waits for it to be handled.
func (c testCore) ask(t *testing.T, m bot.Message) *recorder {
	t.Helper()
	r := newRecorder()
	c.HandleMessage(context.Background(), m, r)
	r.wait(t)
	return r
}

func group(user, text string) bot.Message {
	return bot.Message{Platform: "test", ChatID: "g1", SenderID: bot.UserID(user), Text: text}
}

func TestTriggers(t *testing.T) {
	c := startCore(t, bot.DefaultConfig(), demo.New(), nil)
	tests := []struct {
		name string
		msg  bot.Message
		want string // the question the model saw; "" for no answer
	}{
		{"direct message", bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: "hi", IsDirect: true}, "hi"},
		{"group without trigger", group("u", "just chatting"), ""},
		{"group mention", func() bot.Message { m := group("u", "what time is it?"); m.MentionsBot = true; return m }(), "what time is it?"},
		{"group prefix", group("u", "/ask   what is Go?"), "what is Go?"},
		{"prefix needs a word boundary", group("u", "/asking around"), ""},
		{"the bot's own message", func() bot.Message { m := group("u", "hi"); m.IsDirect, m.FromBot = true, true; return m }(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.ask(t, tt.msg)
			_, answers := r.output()
			if tt.want == "" {
				if len(answers) != 0 {
					t.Fatalf("answered %q", answers)
				}
				return
			}
			if len(answers) != 1 {
				t.Fatalf("got %d answers, want 1", len(answers))
			}
			p := c.gen.last()
			if got := p[len(p)-1].Content; got != tt.want {
				t.Errorf("the model saw %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSessions(t *testing.T) {
	tests := []struct {
		name   string
		shared bool
		// turns the model sees for bob's question after alice spoke
		wantTurns int
	}{
		{"per user in groups", false, 2},      // system + bob's turn
		{"shared group session", true, 2 + 2}, // + alice's question and answer
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := bot.DefaultConfig()
			cfg.SharedGroupSession = tt.shared
			c := startCore(t, cfg, demo.New(), nil)
			c.ask(t, group("alice", "/ask first question"))
			c.ask(t, group("bob", "/ask second question"))
			if got := len(c.gen.last()); got != tt.wantTurns {
				t.Errorf("model saw %d turns, want %d: %q", got, tt.wantTurns, c.gen.last())
			}
		})
	}
}

func TestHistoryAndReset(t *testing.T) {
	c := startCore(t, bot.DefaultConfig(), demo.New(), nil)
	dm := func(text string) bot.Message {
		return bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: text, IsDirect: true}
	}
	c.ask(t, dm("one"))
	c.ask(t, dm("two"))
	p := c.gen.last()
	if len(p) != 4 || p[0].Role != bot.RoleSystem || p[1].Content != "one" || p[2].Role != bot.RoleAssistant || p[3].Content != "two" {
		t.Fatalf("second turn prompt = %q", p)
	}
	r := c.ask(t, dm("/reset"))
	if notices, _ := r.output(); len(notices) != 1 {
		t.Fatalf("reset said %q", notices)
	}
	c.ask(t, dm("three"))
	if p := c.gen.last(); len(p) != 2 || p[1].Content != "three" {
		t.Fatalf("after reset the prompt = %q", p)
	}
}

func TestHistoryBudget(t *testing.T) {
	cfg := bot.DefaultConfig()
	cfg.HistoryTokens = 64
	c := startCore(t, cfg, demo.New(), nil)
	dm := func(text string) bot.Message {
		return bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: text, IsDirect: true}
	}
	for range 10 {
		c.ask(t, dm(strings.Repeat("x", 60)))
	}
	p := c.gen.last()
	if p[0].Content != cfg.SystemPrompt {
		t.Fatalf("system prompt lost: %q", p[0])
	}
	if len(p) >= 10 {
		t.Fatalf("history was not trimmed: %d turns", len(p))
	}
}

func TestQueueFull(t *testing.T) {
	cfg := bot.DefaultConfig()
	cfg.Workers, cfg.QueueSize, cfg.RatePerMinute = 1, 1, 0
	gen := &demo.Generator{Delay: 50 * time.Millisecond}
	c := startCore(t, cfg, gen, nil)
	var rs []*recorder
	for i := range 4 {
		r := newRecorder()
		c.HandleMessage(context.Background(), bot.Message{Platform: "test", ChatID: bot.ChatID("dm" + string(rune('a'+i))), SenderID: "u", Text: "a question of several words", IsDirect: true}, r)
		rs = append(rs, r)
		if i == 0 {
			<-r.started // the only worker is busy with the first message
		}
	}
	busy, answered := 0, 0
	for _, r := range rs {
		r.wait(t)
		notices, answers := r.output()
		if len(answers) == 1 {
			answered++
		}
		if len(notices) == 1 && strings.Contains(notices[0], "busy") {
			busy++
		}
	}
	// One runs, one waits, the rest are told the bot is busy.
	if answered != 2 || busy != 2 {
		t.Errorf("answered %d, busy %d; want 2 and 2", answered, busy)
	}
}

func TestRateLimit(t *testing.T) {
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute, cfg.RateBurst = 1, 2
	c := startCore(t, cfg, demo.New(), nil)
	var limited int
	for range 4 {
		r := c.ask(t, bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: "hi", IsDirect: true})
		if notices, _ := r.output(); len(notices) == 1 && strings.Contains(notices[0], "too fast") {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("%d of 4 messages were rate limited, want 2 (burst 2)", limited)
	}
	// Another user has a bucket of their own.
	r := c.ask(t, bot.Message{Platform: "test", ChatID: "dm2", SenderID: "v", Text: "hi", IsDirect: true})
	if _, answers := r.output(); len(answers) != 1 {
		t.Errorf("another user was limited")
	}
}

func TestRefusalAndLimits(t *testing.T) {
	cfg := bot.DefaultConfig()
	cfg.MaxInputChars = 20
	cfg.Refusals = []bot.RefusalRule{{Category: "test", Keywords: []string{"forbidden"}}}
	c := startCore(t, cfg, demo.New(), nil)
	tests := []struct{ text, want string }{
		{"this is forbidden", "Sorry"},
		{"这个 forbidden 问题", "抱歉"},
		{strings.Repeat("long ", 10), "too long"},
	}
	for _, tt := range tests {
		r := c.ask(t, bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: tt.text, IsDirect: true})
		notices, answers := r.output()
		if len(answers) != 0 || len(notices) != 1 || !strings.Contains(notices[0], tt.want) {
			t.Errorf("%q: notices %q answers %q; want a notice containing %q", tt.text, notices, answers, tt.want)
		}
	}
	if len(c.gen.prompts) != 0 {
		t.Errorf("the model ran %d times for refused messages", len(c.gen.prompts))
	}
}

func TestWithdrawCancels(t *testing.T) {
	cfg := bot.DefaultConfig()
	gen := &demo.Generator{Delay: 200 * time.Millisecond}
	c := startCore(t, cfg, gen, nil)
	r := newRecorder()
	m := bot.Message{Platform: "test", ChatID: "dm", MessageID: "q1", SenderID: "u", Text: strings.Repeat("word ", 50), IsDirect: true}
	c.HandleMessage(context.Background(), m, r)
	time.Sleep(300 * time.Millisecond)
	c.Withdraw("test", "dm", "q1")
	r.wait(t)
	_, answers := r.output()
	if len(answers) == 1 && len(answers[0]) >= len(m.Text) {
		t.Errorf("the generation was not cancelled: %q", answers[0])
	}
}

func TestSessionOrder(t *testing.T) {
	cfg := bot.DefaultConfig()
	cfg.Workers, cfg.RatePerMinute = 4, 0
	c := startCore(t, cfg, &demo.Generator{Delay: time.Millisecond}, nil)
	var rs []*recorder
	for i := range 5 {
		r := newRecorder()
		c.HandleMessage(context.Background(), bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: "question " + string(rune('0'+i)), IsDirect: true}, r)
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.wait(t)
	}
	// Each prompt must contain every earlier question, in order.
	for i, p := range c.gen.prompts {
		if got := p[len(p)-1].Content; got != "question "+string(rune('0'+i)) {
			t.Fatalf("prompt %d asks %q: messages of one session ran out of order", i, got)
		}
		if len(p) != 2+2*i {
			t.Errorf("prompt %d has %d turns, want %d", i, len(p), 2+2*i)
		}
	}
}
