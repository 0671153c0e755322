package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/chatloop/chatloop/bot"
)

type testBox struct{}

func (testBox) Tools() []bot.ToolSpec { return nil }

func (testBox) Call(_ context.Context, name string, _ json.RawMessage) (bot.ToolResult, error) {
	if name == "broken" {
		return bot.ToolResult{}, errors.New("down")
	}
	return bot.ToolResult{Text: "ok"}, nil
}

func TestToolCallsCounted(t *testing.T) {
	m := New()
	box := m.Tools(testBox{})
	for _, name := range []string{"web_search", "web_search", "broken"} {
		_, _ = box.Call(context.Background(), name, json.RawMessage(`{}`))
	}
	fams := scrape(t, m)
	if got := value(t, fams, "chatloop_tool_calls_total", map[string]string{"tool": "web_search", "result": "ok"}); got != 2 {
		t.Errorf("web_search ok = %v, want 2", got)
	}
	if got := value(t, fams, "chatloop_tool_calls_total", map[string]string{"tool": "broken", "result": "error"}); got != 1 {
		t.Errorf("broken error = %v, want 1", got)
	}
	if got := value(t, fams, "chatloop_tool_call_seconds", map[string]string{"tool": "web_search"}); got != 2 {
		t.Errorf("web_search timings = %v, want 2", got)
	}
}
