package feedback

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/chat"
)

var searchTool = chat.Tool{Type: "function", Function: chat.ToolFunction{
	Name:        "web_search",
	Description: "Search the web.",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}`),
}}

// searchSteps is one tool round: a web_search call for query and its
// result.
func searchSteps(id, query, result string) []bot.Turn {
	args, _ := json.Marshal(map[string]string{"query": query})
	return []bot.Turn{
		{Role: "assistant", ToolCalls: []chat.ToolCall{{ID: id, Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: string(args)}}}},
		{Role: chat.RoleTool, ToolCallID: id, Name: "web_search", Content: result},
	}
}

// toolStore holds one prompt group with two answers that searched
// (the better one searched well: +1; the other badly: -1), recorded
// with the tools and finished with the steps the way the bot's core
// does, and a plain pair in another group.
func toolStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Now: func() time.Time { return t0 }})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	for i, c := range []struct {
		text  string
		steps []bot.Turn
		vote  int
	}{
		{"Go 1.24 came out in February 2025 [1].", searchSteps("call_1", "go 1.24 release date", "[1] Go 1.24 is released (go.dev/blog, 2025-02-11)"), 1},
		{"I think it was in 2023.", searchSteps("call_2", "golang", "[1] The Go Programming Language (go.dev)"), -1},
	} {
		a := answer("01T"+string(rune('a'+i)), "gt", "discord", "c", "asker", t0, "Be brief.", "When did Go 1.24 come out?")
		a.Tools = []chat.Tool{searchTool}
		must(t, s.RecordAnswer(bg, a))
		a.Text, a.Finished, a.Steps = c.text, true, c.steps
		must(t, s.FinishAnswer(bg, a))
		must(t, s.Vote(bg, a.ID, "discord", "v", c.vote))
	}
	for i, text := range []string{"Hello!", "Go away."} {
		a := answer("01P"+string(rune('a'+i)), "gp", "discord", "c", "asker", t0, "Be brief.", "hi")
		a.Text, a.Finished = text, true
		must(t, s.RecordAnswer(bg, a))
		must(t, s.Vote(bg, a.ID, "discord", "v", 1-2*i))
	}
	return s
}

// TestToolStepsKept: the steps and tools an answer is finished with are
// read back, from a reopened file too; a plain answer has none.
func TestToolStepsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feedback.db")
	s := toolStore(t, path)
	must(t, s.Close())
	s, err := Open(path, Options{})
	must(t, err)
	defer s.Close()
	a, err := s.Answer(bg, "01Ta")
	must(t, err)
	want := searchSteps("call_1", "go 1.24 release date", "[1] Go 1.24 is released (go.dev/blog, 2025-02-11)")
	if !slices.EqualFunc(a.Steps, want, bot.Turn.Equal) {
		t.Errorf("steps %+v, want %+v", a.Steps, want)
	}
	if len(a.Tools) != 1 || a.Tools[0].Function.Name != "web_search" || string(a.Tools[0].Function.Parameters) != string(searchTool.Function.Parameters) {
		t.Errorf("tools %+v", a.Tools)
	}
	p, err := s.Answer(bg, "01Pa")
	must(t, err)
	if p.Steps != nil || p.Tools != nil {
		t.Errorf("a plain answer reads back with steps %v and tools %v", p.Steps, p.Tools)
	}
	// A finish without steps (a later edit) keeps the ones recorded.
	a.Steps, a.Tools = nil, nil
	must(t, s.FinishAnswer(bg, a))
	if b, _ := s.Answer(bg, "01Ta"); len(b.Steps) != 2 || len(b.Tools) != 1 {
		t.Errorf("a finish without steps dropped them: %+v", b)
	}
}

// object decodes JSON that must be an object.
func object(t *testing.T, what string, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		t.Fatalf("%s: %s is not a JSON object: %v", what, raw, err)
	}
	return m
}

// checkTRLConversation checks messages against TRL's documented tool
// calling form (docs "Dataset formats", "Tool calling"): roles system,
// user, assistant, tool; an assistant message's tool_calls are
// {"type":"function","function":{"name":…,"arguments":{…}}} with
// arguments an object; a tool message has the called tool's name and
// follows a call of it; every tool called is in the tools column.
func checkTRLConversation(t *testing.T, what string, raw json.RawMessage, tools map[string]bool) []map[string]any {
	t.Helper()
	var ms []map[string]any
	if err := json.Unmarshal(raw, &ms); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	called := map[string]bool{}
	for i, m := range ms {
		role, _ := m["role"].(string)
		if _, ok := m["content"].(string); !ok {
			t.Errorf("%s[%d]: content %v is not a string", what, i, m["content"])
		}
		switch role {
		case "system", "user":
			if len(m) != 2 {
				t.Errorf("%s[%d]: %s message with keys %v", what, i, role, m)
			}
		case "assistant":
			calls, _ := m["tool_calls"].([]any)
			for j, c := range calls {
				call, _ := c.(map[string]any)
				fn, _ := call["function"].(map[string]any)
				name, _ := fn["name"].(string)
				if call["type"] != "function" || name == "" {
					t.Errorf("%s[%d].tool_calls[%d] = %v", what, i, j, call)
				}
				if _, ok := fn["arguments"].(map[string]any); !ok {
					t.Errorf("%s[%d].tool_calls[%d].function.arguments = %#v, want an object", what, i, j, fn["arguments"])
				}
				if !tools[name] {
					t.Errorf("%s[%d] calls %q, not among the tools %v", what, i, name, tools)
				}
				called[name] = true
			}
		case "tool":
			name, _ := m["name"].(string)
			if !called[name] {
				t.Errorf("%s[%d]: result of %q, which no earlier message called", what, i, name)
			}
		default:
			t.Errorf("%s[%d]: role %q", what, i, role)
		}
	}
	return ms
}

// trlTools checks a tools column against the JSON schema form TRL and
// chat templates take and returns the names.
func trlTools(t *testing.T, raw json.RawMessage) map[string]bool {
	t.Helper()
	var tools []map[string]any
	must(t, json.Unmarshal(raw, &tools))
	names := map[string]bool{}
	for _, tool := range tools {
		fn, _ := tool["function"].(map[string]any)
		name, _ := fn["name"].(string)
		params, _ := fn["parameters"].(map[string]any)
		if tool["type"] != "function" || name == "" || params["type"] != "object" {
			t.Errorf("tool %v is not a function schema", tool)
		}
		names[name] = true
	}
	return names
}

// TestExportToolsTRL: the TRL formats carry the tool rounds in TRL's
// tool-calling form, each answer's steps on its side of a pair, the
// shared prompt in prompt; a plain pair in the same export has no tools.
func TestExportToolsTRL(t *testing.T) {
	s := toolStore(t, filepath.Join(t.TempDir(), "feedback.db"))
	pref := lines(exportString(t, s, ExportOptions{Format: FormatPreference}))
	if len(pref) != 2 {
		t.Fatalf("%d preference rows, want 2:\n%s", len(pref), strings.Join(pref, "\n"))
	}
	sawTools := false
	for _, l := range pref {
		var row map[string]json.RawMessage
		must(t, json.Unmarshal([]byte(l), &row))
		if row["tools"] == nil {
			if len(row) != 3 {
				t.Errorf("plain row with keys %v", keysOf(row))
			}
			continue
		}
		sawTools = true
		if len(row) != 4 {
			t.Errorf("tool row with keys %v, want prompt, chosen, rejected, tools", keysOf(row))
		}
		tools := trlTools(t, row["tools"])
		prompt := checkTRLConversation(t, "prompt", row["prompt"], tools)
		chosen := checkTRLConversation(t, "chosen", row["chosen"], tools)
		rejected := checkTRLConversation(t, "rejected", row["rejected"], tools)
		if len(prompt) != 2 || prompt[1]["content"] != "When did Go 1.24 come out?" {
			t.Errorf("prompt %v", prompt)
		}
		for name, side := range map[string][]map[string]any{"chosen": chosen, "rejected": rejected} {
			if len(side) != 3 || side[0]["tool_calls"] == nil || side[1]["role"] != "tool" || side[2]["role"] != "assistant" || side[2]["tool_calls"] != nil {
				t.Errorf("%s: %v, want a call, its result and the final answer", name, side)
			}
		}
		args := chosen[0]["tool_calls"].([]any)[0].(map[string]any)["function"].(map[string]any)["arguments"]
		if q := args.(map[string]any)["query"]; q != "go 1.24 release date" {
			t.Errorf("chosen searched %v, want the good search", q)
		}
		if chosen[2]["content"] != "Go 1.24 came out in February 2025 [1]." || rejected[2]["content"] != "I think it was in 2023." {
			t.Errorf("pair the wrong way round: %s", l)
		}
		if chosen[1]["content"] != "[1] Go 1.24 is released (go.dev/blog, 2025-02-11)" || chosen[1]["name"] != "web_search" {
			t.Errorf("tool result %v", chosen[1])
		}
	}
	if !sawTools {
		t.Error("no row with tools")
	}
	for _, f := range []string{FormatKTO, FormatSFT} {
		for _, l := range lines(exportString(t, s, ExportOptions{Format: f})) {
			var row map[string]json.RawMessage
			must(t, json.Unmarshal([]byte(l), &row))
			if row["tools"] == nil {
				continue
			}
			tools := trlTools(t, row["tools"])
			col := "completion"
			if f == FormatSFT {
				col = "messages"
			}
			ms := checkTRLConversation(t, f, row[col], tools)
			if last := ms[len(ms)-1]; last["role"] != "assistant" || last["tool_calls"] != nil {
				t.Errorf("%s row ends with %v", f, last)
			}
			if len(ms) < 3 {
				t.Errorf("%s row without its steps: %s", f, l)
			}
		}
	}
}

// TestExportToolsOpenAI: the OpenAI formats carry the tool rounds as
// OpenAI's fine-tuning guide shows them: arguments as a JSON string, tool
// messages answering a call by tool_call_id, an assistant message that
// only calls tools without content, tools beside the messages (in input
// for DPO).
func TestExportToolsOpenAI(t *testing.T) {
	s := toolStore(t, filepath.Join(t.TempDir(), "feedback.db"))
	check := func(what string, raw json.RawMessage) []map[string]any {
		var ms []map[string]any
		must(t, json.Unmarshal(raw, &ms))
		ids := map[string]bool{}
		for i, m := range ms {
			switch m["role"] {
			case "assistant":
				calls, _ := m["tool_calls"].([]any)
				if len(calls) > 0 {
					if _, ok := m["content"]; ok {
						t.Errorf("%s[%d]: a tool-calling message with content %v", what, i, m["content"])
					}
				}
				for _, c := range calls {
					call := c.(map[string]any)
					fn := call["function"].(map[string]any)
					args, ok := fn["arguments"].(string)
					if !ok || call["type"] != "function" || call["id"] == "" {
						t.Errorf("%s[%d]: call %v, want arguments as a string", what, i, call)
						continue
					}
					object(t, what, []byte(args))
					ids[call["id"].(string)] = true
				}
			case "tool":
				id, _ := m["tool_call_id"].(string)
				if !ids[id] {
					t.Errorf("%s[%d]: answers call %q, which no earlier message made", what, i, id)
				}
				if _, ok := m["name"]; ok {
					t.Errorf("%s[%d]: a tool message with a name", what, i)
				}
			}
		}
		return ms
	}
	sawTools := false
	for _, l := range lines(exportString(t, s, ExportOptions{Format: FormatOpenAISFT})) {
		var row map[string]json.RawMessage
		must(t, json.Unmarshal([]byte(l), &row))
		ms := check("messages", row["messages"])
		if row["tools"] != nil {
			sawTools = true
			trlTools(t, row["tools"])
			if len(ms) != 5 {
				t.Errorf("openai-sft row %s, want system, user, call, result, answer", l)
			}
		}
	}
	if !sawTools {
		t.Error("openai-sft: no row with tools")
	}
	dpo := lines(exportString(t, s, ExportOptions{Format: FormatOpenAIDPO}))
	if len(dpo) != 2 {
		t.Fatalf("%d openai-dpo rows, want 2", len(dpo))
	}
	sawTools = false
	for _, l := range dpo {
		var row struct {
			Input struct {
				Messages json.RawMessage
				Tools    json.RawMessage
			}
			PreferredOutput    json.RawMessage `json:"preferred_output"`
			NonPreferredOutput json.RawMessage `json:"non_preferred_output"`
		}
		must(t, json.Unmarshal([]byte(l), &row))
		check("input", row.Input.Messages)
		p, n := check("preferred_output", row.PreferredOutput), check("non_preferred_output", row.NonPreferredOutput)
		if row.Input.Tools == nil {
			continue
		}
		sawTools = true
		trlTools(t, row.Input.Tools)
		if len(p) != 3 || len(n) != 3 || p[2]["content"] != "Go 1.24 came out in February 2025 [1]." {
			t.Errorf("openai-dpo row %s", l)
		}
	}
	if !sawTools {
		t.Error("openai-dpo: no row with tools")
	}
}

// TestToolsOfferedSplitPairs: answers to the same words offered different
// tools saw different prompts, so they make no pair; stats agree.
func TestToolsOfferedSplitPairs(t *testing.T) {
	s := openTest(t, Options{Now: func() time.Time { return t0 }})
	for i, tools := range [][]chat.Tool{{searchTool}, nil} {
		a := answer("01X"+string(rune('a'+i)), "gx", "discord", "c", "asker", t0, "Be brief.", "news?")
		a.Tools, a.Text, a.Finished = tools, "answer", true
		must(t, s.RecordAnswer(bg, a))
		must(t, s.Vote(bg, a.ID, "discord", "v", 1-2*i))
	}
	if n := len(lines(exportString(t, s, ExportOptions{Format: FormatPreference}))); n != 0 {
		t.Errorf("%d pairs of answers offered different tools", n)
	}
	st, err := s.Stats(bg)
	must(t, err)
	if st.Pairs != 0 {
		t.Errorf("stats count %d pairs", st.Pairs)
	}
	// Choices between them make no pair either.
	must(t, s.Choose(bg, "01Xa", "01Xb", "discord", "v"))
	if n := len(lines(exportString(t, s, ExportOptions{Format: FormatPreference}))); n != 0 {
		t.Errorf("%d pairs from a choice between answers offered different tools", n)
	}
}

// TestScrubToolRounds: personal data in tool arguments and results is
// scrubbed in every format; the arguments stay an object (TRL) or a JSON
// string (OpenAI).
func TestScrubToolRounds(t *testing.T) {
	s := openTest(t, Options{Now: func() time.Time { return t0 }})
	a := answer("01S", "", "discord", "c", "asker", t0, "Be brief.", "find ann")
	a.Tools = []chat.Tool{searchTool}
	a.Steps = searchSteps("call_9", "ann@example.com phone", "Ann: ann@example.com, +86 138 1234 5678")
	a.Text, a.Finished = "Found her.", true
	must(t, s.RecordAnswer(bg, a))
	must(t, s.Vote(bg, a.ID, "discord", "v", 1))
	for _, f := range Formats {
		if f == FormatPreference || f == FormatOpenAIDPO {
			continue // one answer: no pair
		}
		var buf bytes.Buffer
		sw := NewScrubWriter(&buf, f)
		_, err := s.Export(bg, sw, ExportOptions{Format: f, MinScore: 1})
		must(t, err)
		must(t, sw.Close())
		out := buf.String()
		if strings.Contains(out, "ann@example.com") || strings.Contains(out, "1234") || !strings.Contains(out, "<EMAIL_1>") {
			t.Errorf("%s: not scrubbed: %s", f, out)
		}
		if f == FormatKTO || f == FormatSFT {
			if !strings.Contains(out, `"arguments":{"query":"<EMAIL_1> phone"}`) {
				t.Errorf("%s: arguments not an object after scrubbing: %s", f, out)
			}
		} else if !strings.Contains(out, `"arguments":"{\"query\":\"<EMAIL_1> phone\"}"`) {
			t.Errorf("%s: arguments not a JSON string after scrubbing: %s", f, out)
		}
	}
}

func TestTRLArguments(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, `{}`},
		{`{"q": "x"}`, `{"q":"x"}`},
		{` {"a":[1,2]} `, `{"a":[1,2]}`},
		{`{"q": "x"`, `"{\"q\": \"x\""`}, // malformed: kept as a string
		{`[1]`, `"[1]"`},
	} {
		got := trlArguments(c.in)
		if string(got) != c.want {
			t.Errorf("trlArguments(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestBrowseFindsToolRounds: the dashboard's text search finds an answer
// by what it searched for and by what the search found.
func TestBrowseFindsToolRounds(t *testing.T) {
	s := toolStore(t, filepath.Join(t.TempDir(), "feedback.db"))
	for q, want := range map[string]string{"RELEASE DATE": "01Ta", "go.dev/blog": "01Ta", "programming language": "01Tb"} {
		got, _, err := s.Answers(bg, AnswerFilter{Text: q})
		must(t, err)
		if len(got) != 1 || got[0].ID != bot.AnswerID(want) {
			t.Errorf("search %q found %d answers, want %s", q, len(got), want)
		}
	}
}
