package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/tools"
)

// runTestMCPServer makes the test binary a real MCP server (the Go SDK's,
// over stdio), as a [[tools.mcp]] command is: see TestMain.
func runTestMCPServer() int {
	s := mcp.NewServer(&mcp.Implementation{Name: "notes", Version: "1"}, nil)
	type lookupIn struct {
		Key string `json:"key" jsonschema:"the note's key"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "lookup", Description: "Reads a note."}, func(_ context.Context, _ *mcp.CallToolRequest, in lookupIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "note " + in.Key + ": the wifi password is hunter2"}}}, nil, nil
	})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "mcp server:", err)
		return 1
	}
	return 0
}

// chatBody is the part of a chat completions request the fake reads.
type chatBody struct {
	Messages []struct {
		Role       string `json:"role"`
		Content    any    `json:"content"`
		ToolCallID string `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

func (b chatBody) toolNames() []string {
	var out []string
	for _, t := range b.Tools {
		out = append(out, t.Function.Name)
	}
	return out
}

// toolOpenAI is an OpenAI-compatible server on loopback whose model asks
// for one tool call (streamed in pieces, as OpenAI sends them) while the
// conversation has no tool result yet, and then answers with text.
type toolOpenAI struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []chatBody
}

func newToolOpenAI(t *testing.T, tool, args, answer string) *toolOpenAI {
	t.Helper()
	f := &toolOpenAI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var body chatBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		send := func(v any) {
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "data: %s\n\n", b)
			w.(http.Flusher).Flush()
		}
		chunk := func(delta map[string]any, finish any) map[string]any {
			return map[string]any{"object": "chat.completion.chunk", "model": "tool-model", "choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		}
		last := body.Messages[len(body.Messages)-1]
		if last.Role != "tool" && len(body.Tools) > 0 {
			send(chunk(map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
				"index": 0, "id": "call_abc", "type": "function", "function": map[string]any{"name": tool, "arguments": ""}}}}, nil))
			for _, piece := range []string{args[:len(args)/2], args[len(args)/2:]} {
				send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": piece}}}}, nil))
			}
			send(chunk(map[string]any{}, "tool_calls"))
		} else {
			for _, piece := range strings.SplitAfter(answer, " ") {
				send(chunk(map[string]any{"content": piece}, nil))
			}
			send(chunk(map[string]any{}, "stop"))
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *toolOpenAI) requests() []chatBody {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]chatBody(nil), f.bodies...)
}

// fakeSearXNG answers /search?q=…&format=json as SearXNG does.
func fakeSearXNG(t *testing.T, queries *[]string) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/search" || r.URL.Query().Get("format") != "json" {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		mu.Lock()
		*queries = append(*queries, r.URL.Query().Get("q"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"query":"x","number_of_results":2,"results":[
			{"title":"Go 1.26 is released","url":"https://go.dev/blog/go1.26","content":"Today the Go team is happy to release Go 1.26.","engine":"duckduckgo"},
			{"title":"Go 1.26 Release Notes","url":"https://go.dev/doc/go1.26","content":"The latest Go release, version 1.26.","engine":"bing"}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestChatSearchesTheWebEndToEnd runs the chatloop program with [tools]
// configured: the OpenAI backend against a fake server whose model asks
// for web_search, a fake SearXNG, the terminal front end and the real
// feedback database. The answer carries the cited link, /sources lists
// the results, and the export of the upvoted answer keeps the call and
// its result.
func TestChatSearchesTheWebEndToEnd(t *testing.T) {
	var queries []string
	searx := fakeSearXNG(t, &queries)
	ai := newToolOpenAI(t, "web_search", `{"query": "go 1.26 release"}`, "Go 1.26 was released in February [1].")
	dir := t.TempDir()
	config := fmt.Sprintf(`[model]
backend = "openai"
base_url = %q
remote_model = "tool-model"
api_key_env = "CHATLOOP_TEST_TOOLS_KEY"

[tools]
enabled = true
search_url = %q
`, ai.URL+"/v1", searx.URL+"/search")
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := chatloop(t, dir, "what is new in go?\n/good\n/sources\n", "chat", "--config", "chatloop.toml")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	wantAnswer := "Go 1.26 was released in February [1].\n\nSources:\n[1] Go 1.26 is released: https://go.dev/blog/go1.26"
	if !strings.Contains(out, wantAnswer) {
		t.Errorf("stdout lacks the answer with its link %q:\n%s", wantAnswer, out)
	}
	wantList := "Sources of the last answer:\n[1] Go 1.26 is released: https://go.dev/blog/go1.26\n[2] Go 1.26 Release Notes: https://go.dev/doc/go1.26"
	if !strings.Contains(out, wantList) {
		t.Errorf("stdout lacks the /sources list %q:\n%s", wantList, out)
	}
	if strings.Contains(out, "call_abc") || strings.Contains(out, "tool_call") || strings.Contains(out, `"query"`) {
		t.Errorf("tool markup reached the person:\n%s", out)
	}
	if len(queries) != 1 || queries[0] != "go 1.26 release" {
		t.Errorf("SearXNG was asked %q", queries)
	}

	reqs := ai.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests to the model, want 2", len(reqs))
	}
	if got := strings.Join(reqs[0].toolNames(), ","); got != "current_time,fetch_url,web_search" {
		t.Errorf("tools offered: %s", got)
	}
	msgs := reqs[1].Messages
	call, result := msgs[len(msgs)-2], msgs[len(msgs)-1]
	if call.Role != "assistant" || len(call.ToolCalls) != 1 || call.ToolCalls[0].ID != "call_abc" || call.ToolCalls[0].Function.Arguments != `{"query": "go 1.26 release"}` {
		t.Errorf("the call sent back: %+v", call)
	}
	text, _ := result.Content.(string)
	if result.Role != "tool" || result.ToolCallID != "call_abc" || !strings.HasPrefix(text, "[1] Go 1.26 is released\nhttps://go.dev/blog/go1.26\n") {
		t.Errorf("the result sent back: %+v", result)
	}

	// The database keeps the call and its result with the answer.
	out, errOut, code = chatloop(t, dir, "", "feedback", "export", "--config", "chatloop.toml", "--format", "sft", "--out", "-")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"web_search"`, `call_abc`, `https://go.dev/blog/go1.26`, `Go 1.26 was released in February [1].`} {
		if !strings.Contains(out, want) {
			t.Errorf("the export lacks %s:\n%s", want, out)
		}
	}
}

// TestToolsMCPThroughTheCore starts a real MCP server (this test binary
// over stdio) as [[tools.mcp]] and has the OpenAI backend's model call its
// tool through the core; the answer goes on from the tool's text.
func TestToolsMCPThroughTheCore(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ai := newToolOpenAI(t, "notes_lookup", `{"key": "wifi"}`, "The password is hunter2.")
	cfg := defaultConfig()
	cfg.Model.Backend, cfg.Model.BaseURL, cfg.Model.RemoteModel, cfg.Model.APIKeyEnv = "openai", ai.URL+"/v1", "tool-model", "CHATLOOP_TEST_TOOLS_KEY"
	cfg.Feedback.DB = filepath.Join(t.TempDir(), "chatloop.db")
	cfg.Tools.Enabled = true
	cfg.Tools.MCP = []tools.MCPServer{{Name: "notes", Command: []string{exe}, Env: []string{"GO_WANT_CHATLOOP_MCP=1"}}}
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
	waitForTool(t, a.tools.Box, "notes_lookup")

	be, err := a.openBackend(pullTestCommand(false), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer be.close()
	if got := askCore(ctx, t, a, &cfg, be, "what is the wifi password?", 30*time.Second); got != "The password is hunter2." {
		t.Errorf("answer %q", got)
	}
	reqs := ai.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests to the model, want 2", len(reqs))
	}
	msgs := reqs[1].Messages
	if text, _ := msgs[len(msgs)-1].Content.(string); text != "note wifi: the wifi password is hunter2" {
		t.Errorf("the MCP tool's result sent back: %+v", msgs[len(msgs)-1])
	}

	// Stopping the tools stops the server and withdraws its tools; the
	// built-ins stay.
	stopTools()
	var left []string
	for _, s := range a.tools.Box.Tools() {
		left = append(left, s.Tool.Function.Name)
	}
	if strings.Join(left, ",") != "current_time,fetch_url" {
		t.Errorf("tools after stopping: %q", left)
	}
}

// waitForTool waits until box offers the named tool (an MCP server's come
// once it is connected).
func waitForTool(t *testing.T, box bot.ToolBox, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range box.Tools() {
			if s.Tool.Function.Name == name {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s was never offered", name)
}

// askCore runs a core over be and the configured store, sends it one
// direct message and returns the answer's text once it is complete.
func askCore(ctx context.Context, t *testing.T, a *app, cfg *Config, be *backend, text string, wait time.Duration) string {
	t.Helper()
	store, err := a.openStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	core, err := a.newCore(cfg, cfg.Bot, be, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	coreDone := make(chan struct{})
	go func() { defer close(coreDone); _ = core.Run(ctx) }()
	defer func() { cancel(); <-coreDone }()

	r := &answerRecorder{done: make(chan struct{})}
	core.HandleMessage(ctx, bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: text, IsDirect: true}, r)
	select {
	case <-r.done:
	case <-time.After(wait):
		t.Fatal("no answer")
	}
	return r.text.String()
}

// answerRecorder is a Replier keeping the answer's text.
type answerRecorder struct {
	mu      sync.Mutex
	text    strings.Builder
	notices []string
	done    chan struct{}
	once    sync.Once
}

func (r *answerRecorder) Send(_ context.Context, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, text)
	return nil
}

func (r *answerRecorder) Stream(_ context.Context, _ bot.Outgoing, tokens <-chan string) error {
	for tok := range tokens {
		r.mu.Lock()
		r.text.WriteString(tok)
		r.mu.Unlock()
	}
	return nil
}

func (r *answerRecorder) Complete() { r.once.Do(func() { close(r.done) }) }
