package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/lora"
)

// TestTuneToolPairs: answers that searched, voted apart, with the same
// final text after different searches, are pairs that tune trains on from
// the database (rendered with their tool rounds), not pairs of the same
// text to skip.
func TestTuneToolPairs(t *testing.T) {
	dir := tuneDir(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := feedback.Open(filepath.Join(dir, "chatloop.db"), feedback.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	tools := []chat.Tool{{Type: "function", Function: chat.ToolFunction{Name: "web_search", Description: "Search the web.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)}}}
	ctx := context.Background()
	for i, topic := range []string{"tea", "rivers"} {
		for j, query := range []string{topic + " history", "stuff"} {
			id := bot.AnswerID(fmt.Sprintf("01%d%d", i, j))
			a := bot.Answer{ID: id, GroupID: bot.GroupID(topic), Platform: "console", ChatID: "local", AskerID: "local", Created: t0,
				Prompt: []bot.Turn{{Role: bot.RoleUser, Content: "tell me about " + topic}}, Tools: tools}
			if err := s.RecordAnswer(ctx, a); err != nil {
				t.Fatal(err)
			}
			call := "call_" + string(id)
			a.Steps = []bot.Turn{
				{Role: bot.RoleAssistant, ToolCalls: []chat.ToolCall{{ID: call, Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: `{"query":"` + query + `"}`}}}},
				{Role: chat.RoleTool, ToolCallID: call, Name: "web_search", Content: "results for " + query},
			}
			a.Text, a.Finished = "Here you are.", true
			if err := s.FinishAnswer(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := s.Vote(ctx, id, "console", "local", 1-2*j); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := chatloop(t, dir, "", "tune", "--db", "chatloop.db", "--out", "tuned.gguf", "--holdout", "0", "--epochs", "1",
		"--batch", "1", "--rank", "4", "--threads", "1")
	if code != 0 {
		t.Fatalf("tune: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("tune: %s", errOut)
	if strings.Contains(errOut, "same text") || !strings.Contains(errOut, "2 pairs") {
		t.Errorf("tune did not train on the 2 tool pairs:\n%s", errOut)
	}
	if _, err := lora.Read(filepath.Join(dir, "tuned.gguf")); err != nil {
		t.Error(err)
	}
}
