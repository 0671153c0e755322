package bot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/chat"
)

// toolModel is a generator whose every round is scripted: step gets the
// round's number (from 0) and request and says what the model answers.
type toolModel struct {
	mu   sync.Mutex
	reqs []bot.Request
	step func(n int, req bot.Request) bot.Result
}

func (g *toolModel) Generate(_ context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	g.mu.Lock()
	n := len(g.reqs)
	g.reqs = append(g.reqs, req)
	g.mu.Unlock()
	res := g.step(n, req)
	if res.Text != "" {
		onToken(res.Text)
	}
	res.AnswerTokens = 1
	return res, nil
}

func (g *toolModel) requests() []bot.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.reqs)
}

// toolBox holds tools that run in the test.
type toolBox struct {
	specs []bot.ToolSpec
	run   map[string]func(ctx context.Context, args json.RawMessage) (bot.ToolResult, error)

	mu    sync.Mutex
	calls []string // "name args"
}

func (b *toolBox) Tools() []bot.ToolSpec { return b.specs }

func (b *toolBox) Call(ctx context.Context, name string, args json.RawMessage) (bot.ToolResult, error) {
	b.mu.Lock()
	b.calls = append(b.calls, name+" "+string(args))
	b.mu.Unlock()
	return b.run[name](ctx, args)
}

func (b *toolBox) add(name string, adminOnly bool, run func(ctx context.Context, args json.RawMessage) (bot.ToolResult, error)) {
	b.specs = append(b.specs, bot.ToolSpec{AdminOnly: adminOnly, Tool: chat.Tool{Type: "function", Function: chat.ToolFunction{
		Name: name, Description: "test tool " + name, Parameters: json.RawMessage(`{"type":"object","properties":{}}`),
	}}})
	if b.run == nil {
		b.run = map[string]func(context.Context, json.RawMessage) (bot.ToolResult, error){}
	}
	b.run[name] = run
}

func (b *toolBox) called() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// searchBox offers web_search, answering with two results, and fetch_url,
// answering with the page asked for.
func searchBox() *toolBox {
	b := &toolBox{}
	b.add("web_search", false, func(_ context.Context, args json.RawMessage) (bot.ToolResult, error) {
		return bot.ToolResult{
			Text: "[1] Go 1.26 released\nhttps://go.dev/blog/go1.26\nGo 1.26 is out.\n\n[2] Release notes\nhttps://go.dev/doc/go1.26\nWhat changed.",
			Sources: []bot.Source{{Title: "Go 1.26 released", URL: "https://go.dev/blog/go1.26"},
				{Title: "Release notes", URL: "https://go.dev/doc/go1.26"}},
		}, nil
	})
	b.add("fetch_url", false, func(_ context.Context, args json.RawMessage) (bot.ToolResult, error) {
		var a struct{ URL string }
		_ = json.Unmarshal(args, &a)
		return bot.ToolResult{Text: "[1] A page\n" + a.URL + "\n\nThe page's text.", Sources: []bot.Source{{Title: "A page", URL: a.URL}}}, nil
	})
	return b
}

func call(id, name, args string) chat.ToolCall {
	return chat.ToolCall{ID: id, Type: "function", Function: chat.FunctionCall{Name: name, Arguments: args}}
}

// statusRecorder is a recorder that also shows tool status lines.
type statusRecorder struct {
	*recorder
	statuses []string
}

func (r *statusRecorder) Status(_ context.Context, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, text)
	return nil
}

func startToolCore(t *testing.T, cfg bot.Config, gen bot.Generator, store bot.FeedbackStore, tools bot.ToolOptions, counter bot.TokenCounter) *bot.Core {
	t.Helper()
	opts := bot.Options{Config: cfg, Generator: gen, MaxTokens: 1000, Tools: tools, Counter: counter}
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
	return c
}

func askCore(t *testing.T, c *bot.Core, m bot.Message) *statusRecorder {
	t.Helper()
	r := &statusRecorder{recorder: newRecorder()}
	c.HandleMessage(context.Background(), m, r)
	r.wait(t)
	return r
}

func direct(text string) bot.Message {
	return bot.Message{Platform: "test", ChatID: "dm", SenderID: "alice", Text: text, IsDirect: true}
}

func TestToolRoundsCiteSources(t *testing.T) {
	store := openStore(t)
	box := searchBox()
	gen := &toolModel{step: func(n int, req bot.Request) bot.Result {
		switch n {
		case 0:
			return bot.Result{ToolCalls: []chat.ToolCall{call("c1", "web_search", `{"query":"go 1.26"}`)}}
		case 1:
			// The page is already among the results: it keeps its number.
			return bot.Result{ToolCalls: []chat.ToolCall{call("", "fetch_url", `{"url":"https://go.dev/doc/go1.26"}`), call("", "fetch_url", `{"url":"https://example.com/more"}`)}}
		}
		return bot.Result{Text: "Go 1.26 is out [1], with notes [2, 3]; see also [9]."}
	}}
	c := startToolCore(t, bot.DefaultConfig(), gen, store, bot.ToolOptions{Box: box}, nil)
	r := askCore(t, c, direct("what's new in Go?"))

	_, answers := r.output()
	want := "Go 1.26 is out [1], with notes [2, 3]; see also [9].\n\nSources:\n" +
		"[1] Go 1.26 released: https://go.dev/blog/go1.26\n" +
		"[2] Release notes: https://go.dev/doc/go1.26\n" +
		"[3] A page: https://example.com/more"
	if len(answers) != 1 || answers[0] != want {
		t.Fatalf("shown %q,\nwant %q", answers, want)
	}
	if got := r.statuses; !slices.Equal(got, []string{"🔎 searching: go 1.26", "🌐 reading: go.dev", "🌐 reading: example.com"}) {
		t.Errorf("statuses %q", got)
	}
	reqs := gen.requests()
	if len(reqs) != 3 || len(reqs[0].Tools) != 2 || len(reqs[2].Tools) != 2 {
		t.Fatalf("%d requests; tools offered %d, %d", len(reqs), len(reqs[0].Tools), len(reqs[len(reqs)-1].Tools))
	}
	steps := []bot.Turn{
		{Role: "assistant", ToolCalls: []chat.ToolCall{call("c1", "web_search", `{"query":"go 1.26"}`)}},
		{Role: "tool", ToolCallID: "c1", Name: "web_search", Content: "[1] Go 1.26 released\nhttps://go.dev/blog/go1.26\nGo 1.26 is out.\n\n[2] Release notes\nhttps://go.dev/doc/go1.26\nWhat changed."},
		{Role: "assistant", ToolCalls: []chat.ToolCall{call("call_2_1", "fetch_url", `{"url":"https://go.dev/doc/go1.26"}`), call("call_2_2", "fetch_url", `{"url":"https://example.com/more"}`)}},
		{Role: "tool", ToolCallID: "call_2_1", Name: "fetch_url", Content: "[2] A page\nhttps://go.dev/doc/go1.26\n\nThe page's text."},
		{Role: "tool", ToolCallID: "call_2_2", Name: "fetch_url", Content: "[3] A page\nhttps://example.com/more\n\nThe page's text."},
	}
	// The last round saw the prompt, then every step.
	if diff := cmp.Diff(steps, reqs[2].Messages[len(reqs[2].Messages)-len(steps):]); diff != "" {
		t.Errorf("the last round's messages (-want +got):\n%s", diff)
	}
	// The store keeps the tools offered, the steps and the model's text
	// (the links are chatloop's, not the model's).
	a, err := store.Answer(context.Background(), r.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(steps, a.Steps); diff != "" {
		t.Errorf("stored steps (-want +got):\n%s", diff)
	}
	if a.Text != "Go 1.26 is out [1], with notes [2, 3]; see also [9]." || len(a.Tools) != 2 || a.Tools[0].Function.Name != "web_search" {
		t.Errorf("stored text %q, tools %+v", a.Text, a.Tools)
	}

	// /sources lists all of them, read back from the store.
	r = askCore(t, c, direct("/sources"))
	notices, _ := r.output()
	wantList := "Sources of the last answer:\n[1] Go 1.26 released: https://go.dev/blog/go1.26\n[2] Release notes: https://go.dev/doc/go1.26\n[3] A page: https://example.com/more"
	if len(notices) != 1 || notices[0] != wantList {
		t.Errorf("/sources said %q, want %q", notices, wantList)
	}
}

func TestSourcesSurviveRestart(t *testing.T) {
	store := openStore(t)
	gen := &toolModel{step: func(n int, req bot.Request) bot.Result {
		if n == 0 {
			return bot.Result{ToolCalls: []chat.ToolCall{call("c1", "web_search", `{"query":"x"}`)}}
		}
		return bot.Result{Text: "No citation here."}
	}}
	c := startToolCore(t, bot.DefaultConfig(), gen, store, bot.ToolOptions{Box: searchBox()}, nil)
	r := askCore(t, c, direct("x?"))
	if _, answers := r.output(); len(answers) != 1 || answers[0] != "No citation here." {
		t.Fatalf("shown %q: an answer citing nothing gets no list", answers)
	}
	// A new core over the same store: the list comes from the record.
	c2 := startToolCore(t, bot.DefaultConfig(), gen, store, bot.ToolOptions{Box: searchBox()}, nil)
	notices, _ := askCore(t, c2, direct("/来源")).output()
	if len(notices) != 1 || !strings.HasPrefix(notices[0], "上一个回答的来源：\n[1] Go 1.26 released: https://go.dev/blog/go1.26\n[2] Release notes") {
		t.Errorf("/来源 said %q", notices)
	}
	// A chat whose last answer used no tools says so.
	plain := &toolModel{step: func(int, bot.Request) bot.Result { return bot.Result{Text: "hi"} }}
	c3 := startToolCore(t, bot.DefaultConfig(), plain, store, bot.ToolOptions{}, nil)
	askCore(t, c3, direct("hello"))
	if notices, _ := askCore(t, c3, direct("/sources")).output(); len(notices) != 1 || notices[0] != "The last answer here cites no sources." {
		t.Errorf("/sources after a plain answer said %q", notices)
	}
}

func TestToolPolicy(t *testing.T) {
	box := searchBox()
	box.add("files_read", false, nil)
	box.add("shell", true, nil)
	cfg := bot.DefaultConfig()
	cfg.Admins = []string{"test:root"}
	tests := []struct {
		name   string
		policy bot.ToolPolicy
		msg    bot.Message
		want   []string
	}{
		{"direct chat: all but admin-only", bot.ToolPolicy{}, direct("q"), []string{"web_search", "fetch_url", "files_read"}},
		{"admin gets admin-only", bot.ToolPolicy{}, bot.Message{Platform: "test", ChatID: "dm", SenderID: "root", Text: "q", IsDirect: true}, []string{"web_search", "fetch_url", "files_read", "shell"}},
		{"admin_only by pattern", bot.ToolPolicy{AdminOnly: []string{"files_*"}}, direct("q"), []string{"web_search", "fetch_url"}},
		{"group without groups", bot.ToolPolicy{}, mention("g1"), nil},
		{"group with groups", bot.ToolPolicy{Groups: true}, mention("g1"), []string{"web_search", "fetch_url", "files_read"}},
		{"group listed in chats", bot.ToolPolicy{Chats: map[string][]string{"test:g1": {"web_search"}}}, mention("g1"), []string{"web_search"}},
		{"another group not listed", bot.ToolPolicy{Chats: map[string][]string{"test:g1": {"web_search"}}}, mention("g2"), nil},
		{"platform list", bot.ToolPolicy{Platforms: map[string][]string{"test": {"fetch_url", "shell"}}}, direct("q"), []string{"fetch_url"}},
		{"platform listed empty", bot.ToolPolicy{Platforms: map[string][]string{"test": {}}}, direct("q"), nil},
		{"other platform's list", bot.ToolPolicy{Platforms: map[string][]string{"discord": {"fetch_url"}}}, direct("q"), []string{"web_search", "fetch_url", "files_read"}},
		{"chat list beats platform list", bot.ToolPolicy{Platforms: map[string][]string{"test": {"fetch_url"}}, Chats: map[string][]string{"test:dm": {"web_*"}}}, direct("q"), []string{"web_search"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen := &toolModel{step: func(int, bot.Request) bot.Result { return bot.Result{Text: "ok"} }}
			c := startToolCore(t, cfg, gen, nil, bot.ToolOptions{Box: box, Policy: tt.policy}, nil)
			askCore(t, c, tt.msg)
			reqs := gen.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			var got []string
			for _, tool := range reqs[0].Tools {
				got = append(got, tool.Function.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("offered %q, want %q", got, tt.want)
			}
		})
	}
}

func mention(chatID string) bot.Message {
	return bot.Message{Platform: "test", ChatID: bot.ChatID(chatID), SenderID: "alice", Text: "q", MentionsBot: true}
}

func TestBadToolCallsAreAnsweredAndTheAnswerGoesOn(t *testing.T) {
	box := searchBox()
	box.add("broken", false, func(context.Context, json.RawMessage) (bot.ToolResult, error) {
		return bot.ToolResult{}, errors.New("the disk is on fire")
	})
	box.add("shell", true, nil) // on offer, but not to alice
	gen := &toolModel{step: func(n int, req bot.Request) bot.Result {
		if n == 0 {
			return bot.Result{ToolCalls: []chat.ToolCall{
				call("a", "no_such_tool", `{}`),
				call("b", "shell", `{"cmd":"rm -rf /"}`),
				call("c", "web_search", `["not", "an", "object"]`),
				call("d", "web_search", `{"query": "unterminated`),
				call("e", "broken", `{}`),
				call("f", "web_search", `"{\"query\":\"twice encoded\"}"`),
			}}
		}
		return bot.Result{Text: "done"}
	}}
	c := startToolCore(t, bot.DefaultConfig(), gen, nil, bot.ToolOptions{Box: box}, nil)
	r := askCore(t, c, direct("q"))
	if _, answers := r.output(); len(answers) != 1 || answers[0] != "done" {
		t.Fatalf("shown %q", answers)
	}
	reqs := gen.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	msgs := reqs[1].Messages
	results := msgs[len(msgs)-6:]
	wants := []string{
		`Error: "no_such_tool" cannot be called: there is no tool of that name. The tools here are: broken, fetch_url, web_search.`,
		`Error: "shell" cannot be called: it is not allowed in this chat.`,
		`Error: the arguments must be a JSON object`,
		`Error: the arguments must be a JSON object`,
		`Error: the disk is on fire`,
		`[1] Go 1.26 released`,
	}
	for i, w := range wants {
		if results[i].Role != "tool" || results[i].ToolCallID != string(rune('a'+i)) || !strings.HasPrefix(results[i].Content, w) {
			t.Errorf("result %d: %+v, want one starting %q", i, results[i], w)
		}
	}
	// Only the well-formed calls of allowed tools ran.
	if got := box.called(); !slices.Equal(got, []string{"broken {}", `web_search {"query":"twice encoded"}`}) {
		t.Errorf("calls run: %q", got)
	}
}

func TestToolRoundsStopAtMaxRounds(t *testing.T) {
	gen := &toolModel{step: func(n int, req bot.Request) bot.Result {
		if len(req.Tools) == 0 {
			return bot.Result{Text: "final", ToolCalls: []chat.ToolCall{call("x", "web_search", `{}`)}}
		}
		return bot.Result{Text: fmt.Sprintf("round %d.", n), ToolCalls: []chat.ToolCall{call("", "web_search", `{"query":"again"}`)}}
	}}
	box := searchBox()
	c := startToolCore(t, bot.DefaultConfig(), gen, nil, bot.ToolOptions{Box: box, MaxRounds: 2}, nil)
	r := askCore(t, c, direct("q"))
	reqs := gen.requests()
	if len(reqs) != 3 || len(reqs[0].Tools) == 0 || len(reqs[1].Tools) == 0 || len(reqs[2].Tools) != 0 {
		t.Fatalf("%d requests, want 2 with tools and a last one without", len(reqs))
	}
	if n := len(box.called()); n != 2 {
		t.Errorf("%d calls ran, want 2 (the last round's calls are ignored)", n)
	}
	// Text written before a round's calls is shown as it came, apart from
	// what follows.
	if _, answers := r.output(); len(answers) != 1 || answers[0] != "round 0.\n\nround 1.\n\nfinal" {
		t.Errorf("shown %q", answers)
	}
}

func TestToolTimeBudget(t *testing.T) {
	box := &toolBox{}
	box.add("slow", false, func(ctx context.Context, _ json.RawMessage) (bot.ToolResult, error) {
		<-ctx.Done()
		return bot.ToolResult{}, ctx.Err()
	})
	gen := &toolModel{step: func(n int, req bot.Request) bot.Result {
		if len(req.Tools) > 0 {
			return bot.Result{ToolCalls: []chat.ToolCall{call("s1", "slow", `{}`), call("s2", "slow", `{}`)}}
		}
		return bot.Result{Text: "sorry, no luck"}
	}}
	c := startToolCore(t, bot.DefaultConfig(), gen, nil, bot.ToolOptions{Box: box, Budget: time.Second}, nil)
	begun := time.Now()
	r := askCore(t, c, direct("q"))
	if took := time.Since(begun); took > 8*time.Second {
		t.Errorf("the answer took %v with a budget of 1s", took)
	}
	reqs := gen.requests()
	if len(reqs) != 2 || len(reqs[1].Tools) != 0 {
		t.Fatalf("%d requests; the one after the budget must offer no tools", len(reqs))
	}
	msgs := reqs[1].Messages
	if got := msgs[len(msgs)-2].Content; !strings.Contains(got, "timed out") {
		t.Errorf("the cancelled call's result: %q", got)
	}
	if got := msgs[len(msgs)-1].Content; !strings.Contains(got, "time for tools is spent") {
		t.Errorf("the call after the budget: %q", got)
	}
	if _, answers := r.output(); len(answers) != 1 || answers[0] != "sorry, no luck" {
		t.Errorf("shown %q", answers)
	}
}

// words counts space-separated words: a tokenizer that is easy to check.
type words struct{}

func (words) CountTokens(s string) int { return len(strings.Fields(s)) }

func TestToolResultsAreCutToTheTokenBudget(t *testing.T) {
	long := strings.Repeat("lorem ipsum ", 500)
	box := &toolBox{}
	box.add("long", false, func(context.Context, json.RawMessage) (bot.ToolResult, error) {
		return bot.ToolResult{Text: long}, nil
	})
	gen := &toolModel{step: func(n int, req bot.Request) bot.Result {
		if n == 0 {
			return bot.Result{ToolCalls: []chat.ToolCall{call("l", "long", `{}`)}}
		}
		return bot.Result{Text: "ok"}
	}}
	c := startToolCore(t, bot.DefaultConfig(), gen, nil, bot.ToolOptions{Box: box, MaxResultTokens: 50}, words{})
	askCore(t, c, direct("q"))
	msgs := gen.requests()[1].Messages
	got := msgs[len(msgs)-1].Content
	if n := (words{}).CountTokens(got); n > 50 || n < 45 {
		t.Errorf("the result has %d tokens, want 45 to 50", n)
	}
	if !strings.HasPrefix(got, "lorem ipsum lorem") || !strings.HasSuffix(got, "…[cut to 50 tokens]") {
		t.Errorf("the cut result: %q", got)
	}
}

func TestToolOptionsValidate(t *testing.T) {
	bad := []bot.ToolOptions{
		{MaxRounds: -1}, {MaxRounds: bot.MaxToolRounds + 1},
		{Budget: time.Millisecond}, {Budget: bot.MaxToolBudget + time.Second},
		{MaxResultTokens: 3}, {MaxResultTokens: bot.MaxToolResultTokens + 1},
		{Policy: bot.ToolPolicy{AdminOnly: []string{"[bad"}}},
		{Policy: bot.ToolPolicy{Chats: map[string][]string{"no-colon": {"x"}}}},
		{Policy: bot.ToolPolicy{Platforms: map[string][]string{"discord": {""}}}},
	}
	for _, o := range bad {
		if _, err := bot.NewCore(bot.Options{Config: bot.DefaultConfig(), Generator: &toolModel{}, Tools: o}); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestToolsTakeRoomInTheContextWindow(t *testing.T) {
	step := func(n int, req bot.Request) bot.Result {
		if n == 0 && len(req.Tools) > 0 {
			return bot.Result{ToolCalls: []chat.ToolCall{call("c", "web_search", `{}`)}}
		}
		return bot.Result{Text: "ok"}
	}
	run := func(contextTokens int) (*toolModel, []string) {
		gen := &toolModel{step: step}
		c, err := bot.NewCore(bot.Options{Config: bot.DefaultConfig(), Generator: gen, MaxTokens: 100, ContextTokens: contextTokens,
			Counter: words{}, Tools: bot.ToolOptions{Box: searchBox()}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = c.Run(ctx) }()
		defer func() { cancel(); <-done }()
		_, answers := askCore(t, c, direct("what is new?")).output()
		return gen, answers
	}
	// 100 tokens for the prompt: the question fits (about 30), but not
	// with the tools' descriptions (160 and more): no tools then.
	gen, answers := run(200)
	if reqs := gen.requests(); len(reqs) != 1 || len(reqs[0].Tools) != 0 || len(answers) != 1 || answers[0] != "ok" {
		t.Fatalf("%d requests (tools %d), shown %q: want one answer without tools", len(reqs), len(reqs[0].Tools), answers)
	}
	// With room for them, the tools are offered.
	gen, _ = run(1000)
	if reqs := gen.requests(); len(reqs) != 2 || len(reqs[0].Tools) != 2 {
		t.Errorf("with room: %d requests, tools offered first %d", len(reqs), len(reqs[0].Tools))
	}
}

// noToolsModel fails whenever tools are offered, as Ollama does for a
// model without tool support.
type noToolsModel struct{ toolModel }

func (g *noToolsModel) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	g.mu.Unlock()
	if len(req.Tools) > 0 {
		return bot.Result{}, errors.New(`400: {"error":{"message":"registry.ollama.ai/library/gemma:2b does not support tools"}}`)
	}
	onToken("plain")
	return bot.Result{Text: "plain"}, nil
}

func TestModelWithoutToolSupportAnswersWithoutTools(t *testing.T) {
	store := openStore(t)
	gen := &noToolsModel{}
	c := startToolCore(t, bot.DefaultConfig(), gen, store, bot.ToolOptions{Box: searchBox()}, nil)
	r := askCore(t, c, direct("hi"))
	if notices, answers := r.output(); len(answers) != 1 || answers[0] != "plain" || len(notices) != 0 {
		t.Fatalf("shown %q, notices %q", answers, notices)
	}
	if reqs := gen.requests(); len(reqs) != 2 || len(reqs[0].Tools) == 0 || len(reqs[1].Tools) != 0 {
		t.Fatalf("%d requests: want one with tools, then one without", len(reqs))
	}
	a, err := store.Answer(context.Background(), r.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tools) != 0 || a.Text != "plain" {
		t.Errorf("recorded tools %+v, text %q: want none offered in the end", a.Tools, a.Text)
	}
	// For a while the tools are not offered at all.
	askCore(t, c, direct("again"))
	if reqs := gen.requests(); len(reqs) != 3 || len(reqs[2].Tools) != 0 {
		t.Errorf("%d requests; the next answer must not offer tools", len(reqs))
	}
}
