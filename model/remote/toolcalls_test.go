package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/model/chat"
)

var searchTool = chat.Tool{Type: "function", Function: chat.ToolFunction{
	Name: "web_search", Description: "Search the web.",
	Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`),
}}

// toolCallPiece is one chunk of a streamed tool call, as OpenAI sends it.
func toolCallPiece(index int, id, name, args string) string {
	tc := map[string]any{"index": index, "function": map[string]any{"arguments": args}}
	if id != "" {
		tc["id"], tc["type"] = id, "function"
		tc["function"].(map[string]any)["name"] = name
	}
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "gpt-test",
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{tc}}, "finish_reason": nil}},
	})
	return string(b)
}

func TestChatStreamedToolCalls(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ wireRequest) {
		sse(w,
			`{"id":"chatcmpl-2","object":"chat.completion.chunk","model":"gpt-test","choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}`,
			toolCallPiece(0, "call_a", "web_search", ""),
			toolCallPiece(0, "", "", `{"que`),
			toolCallPiece(0, "", "", `ry": "go 1.26`),
			toolCallPiece(1, "call_b", "current_time", ""),
			toolCallPiece(0, "", "", ` release"}`),
			toolCallPiece(1, "", "", `{}`),
			finish("gpt-test", "tool_calls"), "[DONE]")
	})
	req := testReq
	req.Tools = []chat.Tool{searchTool}
	var shown strings.Builder
	resp, err := f.client().Chat(context.Background(), req, func(s string) { shown.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	want := []chat.ToolCall{
		{ID: "call_a", Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: `{"query": "go 1.26 release"}`}},
		{ID: "call_b", Type: "function", Function: chat.FunctionCall{Name: "current_time", Arguments: `{}`}},
	}
	if diff := cmp.Diff(want, resp.ToolCalls); diff != "" {
		t.Errorf("tool calls (-want +got):\n%s", diff)
	}
	if resp.FinishReason != "tool_calls" || resp.Text != "" || shown.Len() != 0 {
		t.Errorf("finish %q, text %q, shown %q; want tool_calls and no text", resp.FinishReason, resp.Text, shown.String())
	}
	if got := f.reqs[0].Tools; len(got) != 1 || got[0].Function.Name != "web_search" || string(got[0].Function.Parameters) != string(searchTool.Function.Parameters) {
		t.Errorf("tools sent: %+v", got)
	}
}

func TestChatSendsToolRounds(t *testing.T) {
	var raw []byte
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, req wireRequest) {
		raw, _ = json.Marshal(req.Messages)
		answer(w, r, req)
	})
	req := testReq
	req.Tools = []chat.Tool{searchTool}
	req.Messages = []Message{
		{Role: "user", Content: "news?"},
		{Role: "assistant", ToolCalls: []chat.ToolCall{{ID: "call_a", Function: chat.FunctionCall{Name: "web_search", Arguments: `{"query":"news"}`}}}},
		{Role: chat.RoleTool, ToolCallID: "call_a", Name: "web_search", Content: "[1] Title\nhttps://example.com/"},
	}
	if _, err := f.client().Chat(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	// As the chat completions API defines them: the calling message has a
	// null content and typed calls; the tool message names its call.
	want := `[{"role":"user","content":"news?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_a","type":"function","function":{"name":"web_search","arguments":"{\"query\":\"news\"}"}}]},` +
		`{"role":"tool","content":"[1] Title\nhttps://example.com/","tool_call_id":"call_a"}]`
	var got, wantV any
	_ = json.Unmarshal(raw, &got)
	_ = json.Unmarshal([]byte(want), &wantV)
	if diff := cmp.Diff(wantV, got); diff != "" {
		t.Errorf("messages sent (-want +got):\n%s\n%s", diff, raw)
	}
	if req.Messages[1].ToolCalls[0].Type != "" {
		t.Error("the caller's message was changed")
	}
}

func TestChatNonStreamedToolCalls(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ wireRequest) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"fetch_url","arguments":"{\"url\":\"https://go.dev/\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":7}}`)
	})
	resp, err := f.client().Chat(context.Background(), testReq, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []chat.ToolCall{{ID: "call_1", Type: "function", Function: chat.FunctionCall{Name: "fetch_url", Arguments: `{"url":"https://go.dev/"}`}}}
	if diff := cmp.Diff(want, resp.ToolCalls); diff != "" || resp.CompletionTokens != 7 {
		t.Errorf("tool calls (-want +got):\n%s; usage %+v", diff, resp)
	}
}

func TestReadStreamToolCallLimits(t *testing.T) {
	cut := "data: " + toolCallPiece(0, "call_a", "web_search", `{"query":"x`) + "\n\n"
	tests := []struct {
		name, in string
		wantErr  string
	}{
		{"index out of range", "data: " + toolCallPiece(maxToolCalls, "c", "f", "{}") + "\n\n", "index"},
		{"negative index", "data: " + toolCallPiece(-1, "c", "f", "{}") + "\n\n", "index"},
		{"too long", strings.Repeat("data: "+toolCallPiece(0, "", "", strings.Repeat("x", 64<<10))+"\n\n", 17), "longer than"},
		{"cut before the end", cut, "ended before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := readStream(strings.NewReader(tt.in), nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one saying %q", err, tt.wantErr)
			}
			if len(out.ToolCalls) != 0 {
				t.Errorf("an incomplete stream returned tool calls %+v", out.ToolCalls)
			}
		})
	}
}

// FuzzToolCallDeltas cuts a call's name and arguments into pieces where the
// fuzzer says, streams them, and checks that they come back whole; and
// feeds the stream reader arbitrary tool_calls JSON, which must end in
// calls within the bounds or an error, never a panic.
func FuzzToolCallDeltas(f *testing.F) {
	f.Add(`{"query":"weather in 北京"}`, []byte{3, 7, 1}, []byte(`[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]`))
	f.Add("", []byte{}, []byte(`[{"index":31},{"index":"x"}]`))
	f.Add(`{"a":[1,2,{"b":"\u00e9"}]}`, []byte{0, 0, 255}, []byte(`[{"function":{"name":"x"}},{"function":{"arguments":"{"}}]`))
	f.Fuzz(func(t *testing.T, args string, cuts []byte, pieces []byte) {
		args = strings.ToValidUTF8(args, "\uFFFD") // a JSON string holds text
		var stream bytes.Buffer
		stream.WriteString("data: " + toolCallPiece(0, "call_x", "my_tool", "") + "\n\n")
		rest := args
		for _, c := range cuts {
			if rest == "" {
				break
			}
			n := min(int(c), len(rest))
			for n < len(rest) && !utf8.RuneStart(rest[n]) {
				n++ // a piece is a JSON string: whole characters
			}
			stream.WriteString("data: " + toolCallPiece(0, "", "", rest[:n]) + "\n\n")
			rest = rest[n:]
		}
		stream.WriteString("data: " + toolCallPiece(0, "", "", rest) + "\n\n")
		stream.WriteString("data: " + finish("m", "tool_calls") + "\n\ndata: [DONE]\n\n")
		out, err := readStream(&stream, nil)
		if err != nil {
			t.Fatalf("stream of %q: %v", args, err)
		}
		want := []chat.ToolCall{{ID: "call_x", Type: "function", Function: chat.FunctionCall{Name: "my_tool", Arguments: args}}}
		if diff := cmp.Diff(want, out.ToolCalls); diff != "" {
			t.Fatalf("cut at %v (-want +got):\n%s", cuts, diff)
		}

		ev := `{"choices":[{"delta":{"tool_calls":` + string(pieces) + `},"finish_reason":"tool_calls"}]}`
		out, err = readStream(strings.NewReader("data: "+ev+"\n\ndata: [DONE]\n\n"), nil)
		if err != nil {
			return
		}
		if len(out.ToolCalls) > maxToolCalls {
			t.Fatalf("%d calls, over %d", len(out.ToolCalls), maxToolCalls)
		}
		total := 0
		for _, c := range out.ToolCalls {
			if c.Function.Name == "" {
				t.Fatalf("a call without a name: %+v", c)
			}
			total += len(c.ID) + len(c.Function.Name) + len(c.Function.Arguments)
		}
		if total > maxToolCallBytes {
			t.Fatalf("%d bytes of calls, over %d", total, maxToolCallBytes)
		}
	})
}
