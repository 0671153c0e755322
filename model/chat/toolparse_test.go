package chat

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func call(name, args string) ToolCall {
	return ToolCall{Type: "function", Function: FunctionCall{Name: name, Arguments: args}}
}

type parseCase struct {
	name    string
	format  ToolCallFormat
	in      string
	visible string
	calls   []ToolCall
}

var parseCases = []parseCase{
	{"plain text", ToolCallsTagged, "Hello <b>world</b> < tool_call", "Hello <b>world</b> < tool_call", nil},
	{"trailing space kept without calls", ToolCallsTagged, "Hi\n\n", "Hi\n\n", nil},
	{"space between text", ToolCallsTagged, "a \n b", "a \n b", nil},
	{"one call", ToolCallsTagged, "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"go 1.24\"}}\n</tool_call>",
		"", []ToolCall{call("web_search", `{"query":"go 1.24"}`)}},
	{"text then two calls", ToolCallsTagged, "Let me check.\n<tool_call>\n{\"name\": \"current_time\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"oslo\"}}\n</tool_call>\n",
		"Let me check.", []ToolCall{call("current_time", `{}`), call("web_search", `{"query":"oslo"}`)}},
	{"arguments as a string", ToolCallsTagged, `<tool_call>{"name": "f", "arguments": "{\"a\": 1}"}</tool_call>`, "", []ToolCall{call("f", `{"a":1}`)}},
	{"openai shape inside", ToolCallsTagged, `<tool_call>{"type":"function","function":{"name":"f","arguments":{"a":[1,2]}}}</tool_call>`, "", []ToolCall{call("f", `{"a":[1,2]}`)}},
	{"bad json", ToolCallsTagged, "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": }\n</tool_call>",
		"", []ToolCall{call("web_search", `{"name": "web_search", "arguments": {"query": }`)}},
	{"no name", ToolCallsTagged, `<tool_call>{"arguments": {}}</tool_call>`, "", []ToolCall{call("", `{"arguments": {}}`)}},
	{"arguments not an object", ToolCallsTagged, `<tool_call>{"name": "f", "arguments": [1]}</tool_call>`, "", []ToolCall{call("f", `{"name": "f", "arguments": [1]}`)}},
	{"cut short", ToolCallsTagged, "Sure. <tool_call>\n{\"name\": \"web_se", "Sure.", []ToolCall{call("", `{"name": "web_se`)}},
	{"cut short after the name", ToolCallsTagged, "<tool_call>{\"name\": \"web_search\", \"argu", "", []ToolCall{call("web_search", `{"name": "web_search", "argu`)}},
	{"partial tag at the end is text", ToolCallsTagged, "a <tool_ca", "a <tool_ca", nil},
	{"text after a call", ToolCallsTagged, "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>\n\n  Done.", "Done.", []ToolCall{call("f", `{}`)}},
	{"escaped name", ToolCallsTagged, `<tool_call>{"name": "a\"b", "arguments": </tool_call>`, "", []ToolCall{call(`a"b`, `{"name": "a\"b", "arguments":`)}},

	{"json: plain text", ToolCallsJSON, "The answer is {42}.", "The answer is {42}.", nil},
	{"json: a call", ToolCallsJSON, "{\"name\": \"web_search\", \"parameters\": {\"query\": \"go\"}}", "", []ToolCall{call("web_search", `{"query":"go"}`)}},
	{"json: python tag", ToolCallsJSON, "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}", "", []ToolCall{call("f", `{}`)}},
	{"json: leading space, type key", ToolCallsJSON, "  \n{\"type\": \"function\", \"name\": \"f\", \"parameters\": {\"x\": 1}}", "", []ToolCall{call("f", `{"x":1}`)}},
	{"json: object that is no call", ToolCallsJSON, "{\"name\": \"Bob\", \"age\": 3}", "{\"name\": \"Bob\", \"age\": 3}", nil},
	{"json: other object", ToolCallsJSON, "{\"city\": \"Oslo\"}", "{\"city\": \"Oslo\"}", nil},
	{"json: bad", ToolCallsJSON, "{\"name\": \"f\", \"parameters\": {\"x\": ", "", []ToolCall{call("f", `{"name": "f", "parameters": {"x":`)}},
	{"json: text after the call", ToolCallsJSON, "{\"name\": \"f\", \"parameters\": {}} then more", "then more", []ToolCall{call("f", `{}`)}},
	{"json: whitespace only", ToolCallsJSON, "  ", "  ", nil},
	{"json: partial tag", ToolCallsJSON, "<|python", "<|python", nil},
}

// parse feeds in cut at the given offsets.
func parse(f ToolCallFormat, in string, cuts []int) (string, []ToolCall, []string) {
	p := NewToolCallParser(f)
	var visible strings.Builder
	var pieces []string
	prev := 0
	for _, c := range append(cuts, len(in)) {
		out := p.Write(in[prev:c])
		pieces = append(pieces, out)
		visible.WriteString(out)
		prev = c
	}
	rest, calls := p.Close()
	visible.WriteString(rest)
	return visible.String(), calls, pieces
}

func TestToolCallParser(t *testing.T) {
	for _, tt := range parseCases {
		visible, calls, _ := parse(tt.format, tt.in, nil)
		if visible != tt.visible {
			t.Errorf("%s: visible %q, want %q", tt.name, visible, tt.visible)
		}
		if diff := cmp.Diff(tt.calls, calls); diff != "" {
			t.Errorf("%s: calls (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestToolCallParserAnySplit cuts every case at every byte and every pair
// of bytes: the result is the same, and no piece shown before the end
// holds any of the call's markup.
func TestToolCallParserAnySplit(t *testing.T) {
	for _, tt := range parseCases {
		n := len(tt.in)
		for i := 0; i <= n; i++ {
			for j := i; j <= n; j++ {
				visible, calls, pieces := parse(tt.format, tt.in, []int{i, j})
				if visible != tt.visible || !cmp.Equal(calls, tt.calls) {
					t.Fatalf("%s cut at %d, %d: visible %q calls %v; want %q %v", tt.name, i, j, visible, calls, tt.visible, tt.calls)
				}
				if len(tt.calls) > 0 {
					for _, p := range pieces {
						if strings.Contains(p, "<tool") || strings.Contains(p, `"name"`) {
							t.Fatalf("%s cut at %d, %d: piece %q shows call markup", tt.name, i, j, p)
						}
					}
				}
			}
		}
	}
}

func TestToolCallParserStreamsPlainText(t *testing.T) {
	p := NewToolCallParser(ToolCallsTagged)
	if got := p.Write("Hello, "); got != "Hello," {
		t.Errorf("Write = %q: plain text should pass at once (less trailing space)", got)
	}
	if got := p.Write("see <"); got != " see" {
		t.Errorf("Write = %q: only a possible tag and trailing space are held", got)
	}
	if got := p.Write("b>"); got != " <b>" {
		t.Errorf("Write = %q", got)
	}
	if got, _ := p.Close(); got != "" {
		t.Errorf("Close = %q", got)
	}
	j := NewToolCallParser(ToolCallsJSON)
	if got := j.Write("Sure"); got != "Sure" {
		t.Errorf("JSON Write = %q: text that cannot be a call should pass at once", got)
	}
}

func FuzzToolCallParser(f *testing.F) {
	for _, tt := range parseCases {
		f.Add(tt.in, uint16(len(tt.in)/2), uint16(len(tt.in)/3), tt.format == ToolCallsJSON)
	}
	f.Fuzz(func(t *testing.T, in string, a, b uint16, jsonFormat bool) {
		format := ToolCallsTagged
		if jsonFormat {
			format = ToolCallsJSON
		}
		i, j := int(a)%(len(in)+1), int(b)%(len(in)+1)
		if i > j {
			i, j = j, i
		}
		whole, wholeCalls, _ := parse(format, in, nil)
		visible, calls, _ := parse(format, in, []int{i, j})
		if visible != whole || !cmp.Equal(calls, wholeCalls) {
			t.Fatalf("cut at %d, %d: %q %v; whole: %q %v", i, j, visible, calls, whole, wholeCalls)
		}
		if format == ToolCallsTagged && strings.Contains(visible, callOpen) {
			t.Fatalf("visible %q holds %s", visible, callOpen)
		}
		for _, c := range calls {
			if c.Type != "function" {
				t.Fatalf("call %+v without type", c)
			}
		}
		if len(calls) == 0 && format == ToolCallsJSON && visible != in {
			t.Fatalf("no call, but the text changed: %q -> %q", in, visible)
		}
	})
}

// BenchmarkToolCallParser streams an answer with text and a call through
// the parser a few bytes at a time, as tokens arrive.
func BenchmarkToolCallParser(b *testing.B) {
	answer := strings.Repeat("Some visible text of the answer, streamed token by token. ", 20) +
		"<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"chatloop tool calling\"}}\n</tool_call>"
	b.SetBytes(int64(len(answer)))
	for b.Loop() {
		p := NewToolCallParser(ToolCallsTagged)
		for i := 0; i < len(answer); i += 4 {
			p.Write(answer[i:min(i+4, len(answer))])
		}
		p.Close()
	}
}
