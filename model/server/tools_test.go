package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/remote"
)

// forced is a second engine on the tiny model whose decoding is forced at
// its boundary (model.Options.Constrain): for a prompt it was told of, it
// writes the script; for any other, an empty answer.
type forced struct {
	e       *model.Engine
	mu      sync.Mutex
	scripts map[string][]int32
	eog     int32
}

func newForced(t *testing.T) *forced {
	t.Helper()
	tinyEngine(t) // writes the model file
	f := &forced{scripts: map[string][]int32{}}
	e, err := model.Load(tempDir+"/tiny-q8_0.gguf", model.Options{Threads: 1, Context: 512, Parallel: 2, Constrain: f.constrain})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	f.e = e
	f.eog = e.Tokenize("<|im_end|>")[0]
	return f
}

func (f *forced) constrain(prompt, answer []int, logits []float32) {
	f.mu.Lock()
	script := f.scripts[fmt.Sprint(prompt)]
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

// expect makes the model answer text to the prompt req renders to.
func (f *forced) expect(req model.Request, text string) {
	var p []int
	for _, t := range f.e.PromptTokens(req) {
		p = append(p, int(t))
	}
	f.mu.Lock()
	f.scripts[fmt.Sprint(p)] = f.e.Tokenize(text + "<|im_end|>")
	f.mu.Unlock()
}

var (
	searchTool     = chat.Tool{Type: "function", Function: chat.ToolFunction{Name: "web_search", Description: "Search the web.", Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`)}}
	searchToolJSON = `[{"type":"function","function":{"name":"web_search","description":"Search the web.","parameters":{"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}]`
	askMsgs        = []model.Message{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "What is chatloop?"}}
	askJSON        = `[{"role":"system","content":"You are terse."},{"role":"user","content":"What is chatloop?"}]`
)

const searchCall = "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"chatloop\"}}\n</tool_call>"

func TestChatToolCallsNonStreaming(t *testing.T) {
	f := newForced(t)
	srv := httptest.NewServer(New(f.e, Config{ModelID: "m"}))
	defer srv.Close()
	f.expect(model.Request{Messages: askMsgs, Tools: []chat.Tool{searchTool}}, searchCall)
	resp := post(t, srv.URL+"/v1/chat/completions", "", `{"messages":`+askJSON+`,"tools":`+searchToolJSON+`,"tool_choice":"auto","max_tokens":64}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	raw := decodeBody[struct {
		Choices []struct {
			Message      map[string]json.RawMessage `json:"message"`
			FinishReason string                     `json:"finish_reason"`
		} `json:"choices"`
	}](t, resp)
	if len(raw.Choices) != 1 {
		t.Fatalf("choices %+v", raw.Choices)
	}
	c := raw.Choices[0]
	if c.FinishReason != "tool_calls" || string(c.Message["content"]) != "null" {
		t.Errorf("finish_reason %q, content %s; want tool_calls and null", c.FinishReason, c.Message["content"])
	}
	var calls []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	}
	if err := json.Unmarshal(c.Message["tool_calls"], &calls); err != nil {
		t.Fatalf("tool_calls %s: %v", c.Message["tool_calls"], err)
	}
	if len(calls) != 1 || !strings.HasPrefix(calls[0].ID, "call_") || calls[0].Type != "function" || calls[0].Function.Name != "web_search" || calls[0].Function.Arguments != `{"query":"chatloop"}` {
		t.Fatalf("tool_calls %+v", calls)
	}

	// The second round: the call (arguments as OpenAI's JSON string) and
	// its result in the history.
	round2 := append(askMsgs[:2:2],
		model.Message{Role: "assistant", ToolCalls: []chat.ToolCall{{ID: calls[0].ID, Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: `{"query":"chatloop"}`}}}},
		model.Message{Role: chat.RoleTool, ToolCallID: calls[0].ID, Content: "[1] a chat bot that learns from votes"})
	f.expect(model.Request{Messages: round2, Tools: []chat.Tool{searchTool}}, "A chat bot [1].")
	history := strings.TrimSuffix(askJSON, "]") + `,{"role":"assistant","content":null,"tool_calls":[{"id":"` + calls[0].ID + `","type":"function","function":{"name":"web_search","arguments":"{\"query\":\"chatloop\"}"}}]},{"role":"tool","tool_call_id":"` + calls[0].ID + `","content":"[1] a chat bot that learns from votes"}]`
	resp = post(t, srv.URL+"/v1/chat/completions", "", `{"messages":`+history+`,"tools":`+searchToolJSON+`,"max_tokens":64}`)
	answer := decodeBody[chatResponse](t, resp)
	if len(answer.Choices) != 1 || answer.Choices[0].Message.Content != "A chat bot [1]." || len(answer.Choices[0].Message.ToolCalls) != 0 || *answer.Choices[0].FinishReason != "stop" {
		t.Errorf("round 2: %+v", answer.Choices)
	}

	// tool_choice "none" offers no tools: the prompt is plain chat and the
	// same text is an answer.
	f.expect(model.Request{Messages: askMsgs}, searchCall)
	resp = post(t, srv.URL+"/v1/chat/completions", "", `{"messages":`+askJSON+`,"tools":`+searchToolJSON+`,"tool_choice":"none","max_tokens":64}`)
	answer = decodeBody[chatResponse](t, resp)
	if len(answer.Choices) != 1 || answer.Choices[0].Message.Content != searchCall || *answer.Choices[0].FinishReason != "stop" {
		t.Errorf("tool_choice none: %+v", answer.Choices)
	}
}

func TestChatToolCallsStreaming(t *testing.T) {
	f := newForced(t)
	srv := httptest.NewServer(New(f.e, Config{ModelID: "m"}))
	defer srv.Close()
	f.expect(model.Request{Messages: askMsgs, Tools: []chat.Tool{searchTool}}, "Let me look.\n"+searchCall+"\n"+strings.Replace(searchCall, "chatloop", "chatloop licence", 1))
	resp := post(t, srv.URL+"/v1/chat/completions", "", `{"messages":`+askJSON+`,"tools":`+searchToolJSON+`,"max_tokens":100,"stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	evs := events(t, resp.Body)
	if len(evs) < 3 || evs[len(evs)-1] != "[DONE]" {
		t.Fatalf("events %q", evs)
	}
	type callState struct{ id, typ, name, args string }
	var (
		text   strings.Builder
		calls  []callState
		finish []string
	)
	for i, e := range evs[:len(evs)-1] {
		var ch chatResponse
		if err := json.Unmarshal([]byte(e), &ch); err != nil {
			t.Fatalf("event %d %q: %v", i, e, err)
		}
		d := ch.Choices[0].Delta
		if strings.Contains(d.Content, "<tool") || strings.Contains(d.Content, "web_search") {
			t.Errorf("event %d shows the call's markup: %q", i, e)
		}
		text.WriteString(d.Content)
		for _, tc := range d.ToolCalls {
			if tc.Index == nil {
				t.Fatalf("event %d: a tool call delta without index: %s", i, e)
			}
			k := *tc.Index
			if k == len(calls) {
				if tc.ID == "" || tc.Type != "function" || tc.Function == nil || tc.Function.Name == "" {
					t.Errorf("event %d: call %d opens without id, type or name: %s", i, k, e)
				}
				calls = append(calls, callState{id: tc.ID, typ: tc.Type})
			}
			if k >= len(calls) {
				t.Fatalf("event %d: index %d skips ahead", i, k)
			}
			if tc.Function != nil {
				calls[k].name += tc.Function.Name
				calls[k].args += string(tc.Function.Arguments)
			}
		}
		if fr := ch.Choices[0].FinishReason; fr != nil {
			finish = append(finish, *fr)
		}
	}
	if text.String() != "Let me look." {
		t.Errorf("streamed text %q", text.String())
	}
	want := []callState{{typ: "function", name: "web_search", args: `{"query":"chatloop"}`}, {typ: "function", name: "web_search", args: `{"query":"chatloop licence"}`}}
	if len(calls) != 2 {
		t.Fatalf("calls %+v", calls)
	}
	for k := range calls {
		if !strings.HasPrefix(calls[k].id, "call_") || calls[k].typ != want[k].typ || calls[k].name != want[k].name || calls[k].args != want[k].args {
			t.Errorf("call %d = %+v, want %+v", k, calls[k], want[k])
		}
	}
	if calls[0].id == calls[1].id {
		t.Errorf("both calls have id %s", calls[0].id)
	}
	if len(finish) != 1 || finish[0] != "tool_calls" {
		t.Errorf("finish reasons %v", finish)
	}
}

// TestRemoteToolCallsAgainstServe: chatloop's own OpenAI backend
// (model/remote, as a bot with backend = "openai" uses it) against serve
// with tools: the streamed calls arrive assembled, and the next round,
// sent back in the OpenAI shape, reaches the engine as the template's
// tool turns.
func TestRemoteToolCallsAgainstServe(t *testing.T) {
	f := newForced(t)
	srv := httptest.NewServer(New(f.e, Config{ModelID: "m"}))
	defer srv.Close()
	tools := []chat.Tool{searchTool}
	f.expect(model.Request{Messages: askMsgs, Tools: tools}, searchCall)
	c := &remote.Client{BaseURL: srv.URL + "/v1"}
	var pieces []string
	got, err := c.Chat(context.Background(), remote.Request{Model: "m", Messages: askMsgs, Tools: tools, MaxTokens: 64}, func(s string) { pieces = append(pieces, s) })
	if err != nil {
		t.Fatal(err)
	}
	if got.FinishReason != "tool_calls" || len(got.ToolCalls) != 1 || got.ToolCalls[0].Function.Name != "web_search" || got.ToolCalls[0].Function.Arguments != `{"query":"chatloop"}` || !strings.HasPrefix(got.ToolCalls[0].ID, "call_") || got.Text != "" || len(pieces) != 0 {
		t.Fatalf("response %+v, pieces %q", got, pieces)
	}
	round2 := append(askMsgs[:2:2], model.Message{Role: "assistant", ToolCalls: got.ToolCalls},
		model.Message{Role: chat.RoleTool, ToolCallID: got.ToolCalls[0].ID, Name: "web_search", Content: "[1] a chat bot"})
	f.expect(model.Request{Messages: round2, Tools: tools}, "A chat bot [1].")
	got, err = c.Chat(context.Background(), remote.Request{Model: "m", Messages: round2, Tools: tools, MaxTokens: 64}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "A chat bot [1]." || got.FinishReason != "stop" || len(got.ToolCalls) != 0 {
		t.Errorf("round 2: %+v", got)
	}
}
