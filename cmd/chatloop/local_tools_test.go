package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// forcedDecoding makes a tiny random model write chosen answers: for a
// prompt it knows, Constrain leaves only the script's next token
// possible; for any other prompt, only the end of turn (an empty answer).
type forcedDecoding struct {
	mu      sync.Mutex
	scripts map[string][]int32 // by prompt tokens
	eog     int32
	end     string // the end of turn a script ends with; "": <|im_end|>
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
	end := f.end
	if end == "" {
		end = "<|im_end|>"
	}
	f.mu.Lock()
	f.scripts[promptKey(p)] = e.Tokenizer().Tokenize(text+end, false, true) // no BOS
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

// TestLocalEngineSearchesThroughTheCore runs a tool round through the
// bot's core with the local engine: the tiny model's decoding is forced
// into a web_search call until the prompt holds a tool response, then into
// an answer citing [1]; the [tools] built-ins search a fake SearXNG. The
// person gets the answer with its link and never the call.
func TestLocalEngineSearchesThroughTheCore(t *testing.T) {
	var queries []string
	searx := fakeSearXNG(t, &queries)
	var (
		mu              sync.Mutex
		callTok, ansTok []int32
		e               *model.Engine
	)
	constrain := func(prompt, answer []int, logits []float32) {
		mu.Lock()
		defer mu.Unlock()
		var text strings.Builder
		for _, id := range prompt {
			text.Write(e.Tokenizer().Piece(int32(id)))
		}
		script := callTok
		if strings.Contains(text.String(), "<tool_response>") {
			script = ansTok
		}
		next := e.Tokenize("<|im_end|>")[0]
		if len(answer) < len(script) {
			next = script[len(answer)]
		}
		for i := range logits {
			logits[i] = float32(math.Inf(-1))
		}
		logits[next] = 0
	}
	loaded, err := model.Load(tinyModel(t), model.Options{Threads: 1, Constrain: constrain})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	e = loaded
	callTok = e.Tokenize("<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"go 1.26\"}}\n</tool_call><|im_end|>")
	ansTok = e.Tokenize("Go 1.26 is out [1].<|im_end|>")
	mu.Unlock()

	cfg := defaultConfig()
	cfg.Model.Path = tinyModel(t)
	cfg.Feedback.DB = filepath.Join(t.TempDir(), "chatloop.db")
	cfg.Tools.Enabled = true
	cfg.Tools.SearchURL = searx.URL + "/search"
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a := pullTestApp(&logs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopTools, err := a.startTools(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stopTools()
	be := &backend{gen: newLocalGenerator(e, nil, false), counter: engineCounter{e}, context: e.ContextSize(), close: e.Close}
	defer be.close()
	got := askCore(ctx, t, a, &cfg, be, "what is new in go?", 60*time.Second)
	if !strings.HasPrefix(got, "Go 1.26 is out [1].") || !strings.Contains(got, "https://go.dev/blog/go1.26") {
		t.Errorf("answer %q, want the forced answer with its cited link\nlog:\n%s", got, logs.String())
	}
	if strings.Contains(got, "tool_call") || strings.Contains(got, `"query"`) {
		t.Errorf("the call's markup reached the person: %q", got)
	}
	if len(queries) != 1 || queries[0] != "go 1.26" {
		t.Errorf("SearXNG was asked %q", queries)
	}
}

// TestLocalGeneratorLlamaToolCall: a Llama 3 model's call is its whole
// answer as JSON ({"name", "parameters"}); the bridge returns it as a
// call, shows nothing, and the next round renders the result as an
// ipython turn.
func TestLocalGeneratorLlamaToolCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny-llama.gguf")
	if err := testmodel.WriteFile(path, testmodel.Tiny("llama", ggml.Q8_0, 5)); err != nil {
		t.Fatal(err)
	}
	f := &forcedDecoding{scripts: map[string][]int32{}}
	e, err := model.Load(path, model.Options{Threads: 1, Constrain: f.constrain})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.ToolCallFormat() != chat.ToolCallsJSON {
		t.Fatalf("template %s reads calls as %v", e.Info().Template, e.ToolCallFormat())
	}
	f.eog = e.Tokenizer().Tokenize("<|eot_id|>", false, true)[0]
	f.end = "<|eot_id|>"
	g := newLocalGenerator(e, nil, false)
	tools := []chat.Tool{{Type: "function", Function: chat.ToolFunction{Name: "current_time", Description: "The time.", Parameters: []byte(`{"type":"object","properties":{"zone":{"type":"string"}}}`)}}}
	msgs := []bot.Turn{{Role: "user", Content: "What time is it in Oslo?"}}
	f.expect(e, model.Request{Messages: msgs, Tools: tools}, `{"name": "current_time", "parameters": {"zone": "Europe/Oslo"}}`)
	var shown []string
	res, err := g.Generate(context.Background(), bot.Request{Messages: msgs, Tools: tools, MaxTokens: 60}, func(s string) { shown = append(shown, s) })
	if err != nil {
		t.Fatal(err)
	}
	want := []chat.ToolCall{{ID: "call_1", Type: "function", Function: chat.FunctionCall{Name: "current_time", Arguments: `{"zone":"Europe/Oslo"}`}}}
	if diff := cmp.Diff(want, res.ToolCalls); diff != "" || res.Text != "" || len(shown) != 0 {
		t.Fatalf("text %q, shown %q, calls (-want +got):\n%s", res.Text, shown, diff)
	}
	round2 := append(msgs[:1:1], bot.Turn{Role: "assistant", ToolCalls: res.ToolCalls}, bot.Turn{Role: chat.RoleTool, ToolCallID: "call_1", Content: "09:00"})
	prompt := e.Prompt(model.Request{Messages: round2, Tools: tools})
	for _, part := range []string{"Environment: ipython", `{"name": "current_time", "parameters": {"zone": "Europe/Oslo"}}<|eot_id|>`, "<|start_header_id|>ipython<|end_header_id|>\n\n\"09:00\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"} {
		if !strings.Contains(prompt, part) {
			t.Errorf("round 2 prompt lacks %q:\n%s", part, prompt)
		}
	}
	f.expect(e, model.Request{Messages: round2, Tools: tools}, "It is 09:00.")
	res, err = g.Generate(context.Background(), bot.Request{Messages: round2, Tools: tools, MaxTokens: 60}, nil)
	if err != nil || res.Text != "It is 09:00." || len(res.ToolCalls) != 0 {
		t.Errorf("round 2: %q, %v, %v", res.Text, res.ToolCalls, err)
	}
}
