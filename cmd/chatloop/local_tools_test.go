package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/chat"
)

// forcedDecoding makes a tiny random model write chosen answers: for a
// prompt it knows, Constrain leaves only the script's next token
// possible; for any other prompt, only the end of turn (an empty answer).
type forcedDecoding struct {
	mu      sync.Mutex
	scripts map[string][]int32 // by prompt tokens
	eog     int32
}

func promptKey(p []int) string { return fmt.Sprint(p) }

func (f *forcedDecoding) constrain(prompt, answer []int, logits []float32) {
	f.mu.Lock()
	script := f.scripts[promptKey(prompt)]
	f.mu.Unlock()
	next := f.eog
	if len(answer) < len(script) {
		next = script[len(answer)]
	}
	for i := range logits {
		logits[i] = float32(math.Inf(-1))
	}
	logits[next] = 0
}

// expect makes the model answer text (and end its turn) to the prompt req
// renders to.
func (f *forcedDecoding) expect(e *model.Engine, req model.Request, text string) {
	prompt := e.PromptTokens(req)
	p := make([]int, len(prompt))
	for i, t := range prompt {
		p[i] = int(t)
	}
	f.mu.Lock()
	f.scripts[promptKey(p)] = e.Tokenize(text + "<|im_end|>")
	f.mu.Unlock()
}

// TestLocalGeneratorToolRounds: the local engine, decoding forced at its
// boundary into a Qwen tool call, gives the bridge a call it returns as
// Result.ToolCalls without showing its markup; the second round, with the
// call and its result in the history, renders them in the template's form
// and answers.
func TestLocalGeneratorToolRounds(t *testing.T) {
	f := &forcedDecoding{scripts: map[string][]int32{}}
	e, err := model.Load(tinyModel(t), model.Options{Threads: 1, Constrain: f.constrain})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Info().Template != "qwen2.5" {
		t.Fatalf("template %s, want qwen2.5 (the test model carries Qwen2.5's)", e.Info().Template)
	}
	eog := e.Tokenize("<|im_end|>")
	if len(eog) != 1 {
		t.Fatalf("<|im_end|> is %d tokens", len(eog))
	}
	f.eog = eog[0]
	g := newLocalGenerator(e, nil, false)
	tools := []chat.Tool{{Type: "function", Function: chat.ToolFunction{Name: "web_search", Description: "Search the web.",
		Parameters: []byte(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)}}}
	msgs := []bot.Turn{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "What is chatloop?"}}

	const callText = "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"chatloop\"}}\n</tool_call>"
	f.expect(e, model.Request{Messages: msgs, Tools: tools}, "Let me look.\n"+callText)
	var shown []string
	res, err := g.Generate(context.Background(), bot.Request{Messages: msgs, Tools: tools, MaxTokens: 100}, func(s string) { shown = append(shown, s) })
	if err != nil {
		t.Fatal(err)
	}
	want := []chat.ToolCall{{ID: "call_1", Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: `{"query":"chatloop"}`}}}
	if diff := cmp.Diff(want, res.ToolCalls); diff != "" {
		t.Fatalf("round 1 calls (-want +got):\n%s", diff)
	}
	if res.Text != "Let me look." || strings.Join(shown, "") != res.Text {
		t.Errorf("round 1 text %q, shown %q; want the text before the call only", res.Text, shown)
	}
	for _, s := range shown {
		if strings.Contains(s, "<tool") || strings.Contains(s, "web_search") {
			t.Errorf("the person saw %q", s)
		}
	}

	round2 := append(msgs[:len(msgs):len(msgs)],
		bot.Turn{Role: "assistant", Content: res.Text, ToolCalls: res.ToolCalls},
		bot.Turn{Role: chat.RoleTool, ToolCallID: "call_1", Name: "web_search", Content: "[1] chatloop: a chat bot that learns from votes\nhttps://example.com/chatloop"})
	prompt := e.Prompt(model.Request{Messages: round2, Tools: tools})
	for _, part := range []string{"# Tools", "<|im_start|>assistant\nLet me look.\n" + callText + "<|im_end|>", "<|im_start|>user\n<tool_response>\n[1] chatloop: a chat bot that learns from votes\nhttps://example.com/chatloop\n</tool_response><|im_end|>\n<|im_start|>assistant\n"} {
		if !strings.Contains(prompt, part) {
			t.Errorf("round 2 prompt lacks %q:\n%s", part, prompt)
		}
	}
	f.expect(e, model.Request{Messages: round2, Tools: tools}, "A chat bot that learns from votes [1].")
	shown = nil
	res, err = g.Generate(context.Background(), bot.Request{Messages: round2, Tools: tools, MaxTokens: 100}, func(s string) { shown = append(shown, s) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "A chat bot that learns from votes [1]." || len(res.ToolCalls) != 0 || strings.Join(shown, "") != res.Text {
		t.Errorf("round 2: text %q, calls %v, shown %q", res.Text, res.ToolCalls, shown)
	}

	// A malformed call, cut off by the token limit, still comes back as a
	// call (numbered after the one in the history) with its raw text.
	round3 := append(round2[:len(round2):len(round2)], bot.Turn{Role: "assistant", Content: res.Text}, bot.Turn{Role: "user", Content: "And its licence?"})
	f.expect(e, model.Request{Messages: round3, Tools: tools}, "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": ")
	shown = nil
	res, err = g.Generate(context.Background(), bot.Request{Messages: round3, Tools: tools, MaxTokens: 100}, func(s string) { shown = append(shown, s) })
	if err != nil {
		t.Fatal(err)
	}
	want = []chat.ToolCall{{ID: "call_2", Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: `{"name": "web_search", "arguments": {"query":`}}}
	if diff := cmp.Diff(want, res.ToolCalls); diff != "" || res.Text != "" || len(shown) != 0 {
		t.Errorf("malformed call: text %q, shown %q, calls (-want +got):\n%s", res.Text, shown, diff)
	}

	// Without tools offered, the same answer is text.
	f.expect(e, model.Request{Messages: msgs}, callText)
	res, err = g.Generate(context.Background(), bot.Request{Messages: msgs, MaxTokens: 100}, nil)
	if err != nil || res.Text != callText || len(res.ToolCalls) != 0 {
		t.Errorf("without tools: %q, %v, %v", res.Text, res.ToolCalls, err)
	}
}
