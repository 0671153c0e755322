package discord

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/chat"
)

// searchingModel asks for a web search, then answers citing the result.
type searchingModel struct{}

func (searchingModel) Generate(_ context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	if last := req.Messages[len(req.Messages)-1]; last.Role != bot.RoleTool {
		return bot.Result{ToolCalls: []chat.ToolCall{{ID: "c1", Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: `{"query":"mountain weather"}`}}}}, nil
	}
	onToken("Snow on the pass [1].")
	return bot.Result{Text: "Snow on the pass [1]."}, nil
}

// oneSearch offers web_search, answering with one result after a pause
// long enough for the status to be seen.
type oneSearch struct{}

func (oneSearch) Tools() []bot.ToolSpec {
	return []bot.ToolSpec{{Tool: chat.Tool{Type: "function", Function: chat.ToolFunction{Name: "web_search", Parameters: json.RawMessage(`{"type":"object"}`)}}}}
}

func (oneSearch) Call(ctx context.Context, _ string, _ json.RawMessage) (bot.ToolResult, error) {
	select {
	case <-time.After(50 * time.Millisecond):
	case <-ctx.Done():
		return bot.ToolResult{}, ctx.Err()
	}
	return bot.ToolResult{Text: "[1] Pass report\nhttps://weather.example/pass\nSnow.", Sources: []bot.Source{{Title: "Pass report", URL: "https://weather.example/pass"}}}, nil
}

// TestToolStatusBecomesTheAnswer runs the real core with a tool against
// the fake Discord: while the search runs a status reply shows what is
// searched, and the answer then replaces it in the same message, with the
// cited link appended.
func TestToolStatusBecomesTheAnswer(t *testing.T) {
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0
	cfg.GroupNotice = ""
	core, err := bot.NewCore(bot.Options{Config: cfg, Generator: searchingModel{}, Logger: testLogger(t), MaxTokens: 100,
		Tools: bot.ToolOptions{Box: oneSearch{}, Policy: bot.ToolPolicy{Groups: true}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	coreDone := make(chan error, 1)
	go func() { coreDone <- core.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-coreDone })
	f := newFakeDiscord(t)
	startAdapter(t, f, testConfig(f), core)

	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("weather on the pass?"), mentionBot: true})
	want := "Snow on the pass [1].\n\nSources:\n[1] Pass report: https://weather.example/pass"
	var parts []fMessage
	waitFor(t, 15*time.Second, "the answer", func() bool {
		parts = answerTo(f, q, 0)
		return len(parts) == 1 && parts[0].Content == want
	})
	var creates []string
	for _, c := range f.createsInto(fakeChannel) {
		if c.Reference != nil && c.Reference.MessageID == q {
			creates = append(creates, c.Content)
		}
	}
	if len(creates) != 1 || creates[0] != "_🔎 searching: mountain weather_" {
		t.Errorf("replies created %q, want one: the status", creates)
	}
	if edits := f.editsOf(parts[0].ID); len(edits) == 0 || edits[len(edits)-1] != want {
		t.Errorf("the status message's edits %q, want the answer last", edits)
	}
	if got := len(f.botMessages(fakeChannel)); got != 1 {
		t.Errorf("%d bot messages, want the one", got)
	}
	if strings.Contains(parts[0].Content, "c1") {
		t.Errorf("tool markup shown: %q", parts[0].Content)
	}
}
