package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// engineGen runs a real engine (a tiny generated GGUF) as the core's
// generator and token counter, the way cmd/chatloop wires it.
type engineGen struct {
	e       *model.Engine
	prompts []int // templated prompt tokens of each request
}

func (g *engineGen) request(turns []bot.Turn) model.Request {
	var req model.Request
	for _, t := range turns {
		req.Messages = append(req.Messages, model.Message{Role: t.Role, Content: t.Content})
	}
	return req
}

func (g *engineGen) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	mreq := g.request(req.Messages)
	mreq.MaxTokens = req.MaxTokens
	mreq.Sampling.Seed = req.Sampling.Seed
	g.prompts = append(g.prompts, len(g.e.PromptTokens(mreq)))
	res, err := g.e.Generate(ctx, mreq, onToken)
	return bot.Result{Text: res.Text, PromptTokens: res.PromptTokens, AnswerTokens: res.AnswerTokens, Truncated: res.Truncated}, err
}

func (g *engineGen) CountTokens(s string) int { return g.e.CountTokens(s) }

func (g *engineGen) CountPromptTokens(turns []bot.Turn) int {
	return len(g.e.PromptTokens(g.request(turns)))
}

// TestHistoryFitsContextWindow is issue 15's item 3: with context = 300,
// max_tokens = 20 and a few long messages, every answer must still come
// (the oldest turns go first), and one message that cannot fit at all is
// refused with a reply that says why.
func TestHistoryFitsContextWindow(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 3))
	e, err := model.Load(path, model.Options{Context: 300, Threads: 1, Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	gen := &engineGen{e: e}
	const maxTokens = 20
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0
	core, err := bot.NewCore(bot.Options{Config: cfg, Generator: gen, Counter: gen, MaxTokens: maxTokens, ContextTokens: e.ContextSize()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = core.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c := testCore{Core: core}

	long := strings.Repeat("the quick brown fox jumps over the lazy dog ", 8) // about 80 tokens
	for i := range 6 {
		r := c.ask(t, bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: long, IsDirect: true})
		notices, answers := r.output()
		if len(answers) != 1 || len(notices) != 0 {
			t.Fatalf("message %d: answers %q, notices %q; want one answer", i+1, answers, notices)
		}
		if n := gen.prompts[len(gen.prompts)-1]; n+maxTokens > e.ContextSize() {
			t.Fatalf("message %d: prompt of %d tokens + max_tokens %d exceeds the window of %d", i+1, n, maxTokens, e.ContextSize())
		}
	}
	if len(gen.prompts) < 6 || gen.prompts[5] < 150 {
		t.Fatalf("prompt sizes %v: history was not kept at all", gen.prompts)
	}

	huge := strings.Repeat("the quick brown fox jumps over the lazy dog ", 40) // about 400 tokens
	asked := len(gen.prompts)
	r := c.ask(t, bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: huge, IsDirect: true})
	notices, answers := r.output()
	if len(answers) != 0 || len(notices) != 1 || !strings.Contains(notices[0], "too long") || !strings.Contains(notices[0], "context") {
		t.Fatalf("an unfittable message: answers %q, notices %q; want one refusal naming the context", answers, notices)
	}
	if len(gen.prompts) != asked {
		t.Fatal("the model was asked anyway")
	}
}

// TestMaxTokensMustFitContext: a window that leaves no room for the
// answer is a configuration error, found at start.
func TestMaxTokensMustFitContext(t *testing.T) {
	_, err := bot.NewCore(bot.Options{Config: bot.DefaultConfig(), Generator: &engineGen{}, MaxTokens: 512, ContextTokens: 300})
	if err == nil || !strings.Contains(err.Error(), "max_tokens") {
		t.Fatalf("err = %v, want one naming max_tokens", err)
	}
}
