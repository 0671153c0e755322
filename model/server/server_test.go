package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/remote"
	"github.com/chatloop/chatloop/model/testmodel"
)

var (
	engineOnce sync.Once
	engine     *model.Engine
	engineErr  error
	tempDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if engine != nil {
		engine.Close()
	}
	if tempDir != "" {
		os.RemoveAll(tempDir)
	}
	os.Exit(code)
}

// tinyEngine loads one tiny generated model for every test of the package
// (real weights file, real tokenizer vocabulary, the real engine).
func tinyEngine(t *testing.T) *model.Engine {
	t.Helper()
	engineOnce.Do(func() {
		tempDir, engineErr = os.MkdirTemp("", "chatloop-server-")
		if engineErr != nil {
			return
		}
		path := tempDir + "/tiny-q8_0.gguf"
		if err := testmodel.WriteFile(path, testmodel.Tiny("qwen2", ggml.Q8_0, 7)); err != nil {
			engineErr = err
			return
		}
		engine, engineErr = model.Load(path, model.Options{Threads: 1, Context: 512, Parallel: 4})
	})
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	return engine
}

// recorder passes every call to the real engine and keeps its results,
// so tests can see how a generation ended.
type recorder struct {
	Generator
	mu      sync.Mutex
	results []model.Result
	started chan struct{}
}

func (r *recorder) Generate(ctx context.Context, req model.Request, onToken func(string)) (model.Result, error) {
	if r.started != nil {
		select {
		case r.started <- struct{}{}:
		default:
		}
	}
	res, err := r.Generator.Generate(ctx, req, onToken)
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
	return res, err
}

func (r *recorder) last() model.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.results[len(r.results)-1]
}

func newServer(t *testing.T, cfg Config) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{Generator: tinyEngine(t)}
	if cfg.ModelID == "" {
		cfg.ModelID = "tiny-q8_0"
	}
	srv := httptest.NewServer(New(rec, cfg))
	t.Cleanup(srv.Close)
	return srv, rec
}

func post(t *testing.T, url, key, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decodeBody[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// direct is the engine's own greedy answer, for comparison.
func direct(t *testing.T, req model.Request) model.Result {
	t.Helper()
	res, err := tinyEngine(t).Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var hello = []model.Message{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "Say hello."}}

const helloJSON = `[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"Say "},{"type":"text","text":"hello."}]}]`

func TestChatNonStreaming(t *testing.T) {
	srv, _ := newServer(t, Config{})
	want := direct(t, model.Request{Messages: hello, MaxTokens: 12})
	resp := post(t, srv.URL+"/v1/chat/completions", "", `{"model":"x","messages":`+helloJSON+`,"temperature":0,"max_tokens":12}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := decodeBody[chatResponse](t, resp)
	if got.Object != "chat.completion" || got.Model != "tiny-q8_0" || !strings.HasPrefix(got.ID, "chatcmpl-") {
		t.Errorf("envelope: %+v", got)
	}
	if len(got.Choices) != 1 || got.Choices[0].Message == nil {
		t.Fatalf("choices: %+v", got.Choices)
	}
	if c := got.Choices[0]; c.Message.Content != want.Text || c.Message.Role != "assistant" {
		t.Errorf("got %q (role %q), want the engine's own greedy answer %q", c.Message.Content, c.Message.Role, want.Text)
	}
	if fr := *got.Choices[0].FinishReason; fr != "length" {
		t.Errorf("finish_reason %q, want length", fr)
	}
	if u := got.Usage; u == nil || u.PromptTokens != want.PromptTokens || u.CompletionTokens != want.AnswerTokens || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v, want prompt %d completion %d", u, want.PromptTokens, want.AnswerTokens)
	}
}

// events reads a server-sent event stream into its data payloads.
func events(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, data)
		} else if line != "" {
			t.Errorf("unexpected line %q", line)
		}
	}
	return out
}

func TestChatStreaming(t *testing.T) {
	srv, _ := newServer(t, Config{})
	want := direct(t, model.Request{Messages: hello, MaxTokens: 16})
	resp := post(t, srv.URL+"/v1/chat/completions", "", `{"messages":`+helloJSON+`,"temperature":0,"max_completion_tokens":16,"stream":true,"stream_options":{"include_usage":true}}`)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	evs := events(t, resp.Body)
	if len(evs) < 4 || evs[len(evs)-1] != "[DONE]" {
		t.Fatalf("events %q", evs)
	}
	var text strings.Builder
	var finish []string
	var sawUsage *usage
	for i, e := range evs[:len(evs)-1] {
		var ch chatResponse
		if err := json.Unmarshal([]byte(e), &ch); err != nil {
			t.Fatalf("event %d %q: %v", i, e, err)
		}
		if ch.Object != "chat.completion.chunk" {
			t.Errorf("event %d object %q", i, ch.Object)
		}
		if ch.Usage != nil {
			if len(ch.Choices) != 0 || i != len(evs)-2 {
				t.Errorf("usage chunk %d has choices %v or is not last", i, ch.Choices)
			}
			sawUsage = ch.Usage
			continue
		}
		c := ch.Choices[0]
		if i == 0 && (c.Delta == nil || c.Delta.Role != "assistant") {
			t.Errorf("first chunk %q does not open the assistant's message", e)
		}
		if c.FinishReason != nil {
			finish = append(finish, *c.FinishReason)
		}
		text.WriteString(c.Delta.Content)
	}
	if text.String() != want.Text {
		t.Errorf("streamed %q, want %q", text.String(), want.Text)
	}
	if len(finish) != 1 || finish[0] != "length" {
		t.Errorf("finish reasons %v, want one length", finish)
	}
	if sawUsage == nil || sawUsage.CompletionTokens != want.AnswerTokens {
		t.Errorf("usage %+v, want %d completion tokens", sawUsage, want.AnswerTokens)
	}
}

// TestRemoteClientAgainstServe runs chatloop's own OpenAI backend against
// the server: what a second chatloop with backend = "openai" does.
func TestRemoteClientAgainstServe(t *testing.T) {
	srv, _ := newServer(t, Config{APIKey: "sk-test-123"})
	want := direct(t, model.Request{Messages: hello, MaxTokens: 10})
	c := &remote.Client{BaseURL: srv.URL + "/v1", APIKey: "sk-test-123"}
	var pieces []string
	msgs := []remote.Message{{Role: "system", Content: hello[0].Content}, {Role: "user", Content: hello[1].Content}}
	got, err := c.Chat(context.Background(), remote.Request{Model: "tiny-q8_0", Messages: msgs, MaxTokens: 10}, func(s string) { pieces = append(pieces, s) })
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != want.Text || strings.Join(pieces, "") != want.Text {
		t.Errorf("got %q (pieces %q), want %q", got.Text, pieces, want.Text)
	}
	if got.Model != "tiny-q8_0" || got.FinishReason != "length" || got.CompletionTokens != want.AnswerTokens || got.PromptTokens != want.PromptTokens {
		t.Errorf("response %+v", got)
	}
	ids, err := c.Models(context.Background())
	if err != nil || len(ids) != 1 || ids[0] != "tiny-q8_0" {
		t.Errorf("models %v, %v", ids, err)
	}

	bad := &remote.Client{BaseURL: srv.URL + "/v1", APIKey: "wrong", Retries: -1}
	if _, err := bad.Chat(context.Background(), remote.Request{Model: "tiny-q8_0", Messages: msgs}, nil); !errors.Is(err, remote.ErrUnauthorized) {
		t.Errorf("wrong key: %v, want ErrUnauthorized", err)
	}
}

func TestSeededChoices(t *testing.T) {
	srv, _ := newServer(t, Config{})
	body := `{"messages":` + helloJSON + `,"temperature":1.5,"top_p":0.95,"seed":42,"n":2,"max_tokens":12}`
	a := decodeBody[chatResponse](t, post(t, srv.URL+"/v1/chat/completions", "", body))
	b := decodeBody[chatResponse](t, post(t, srv.URL+"/v1/chat/completions", "", body))
	if len(a.Choices) != 2 || len(b.Choices) != 2 {
		t.Fatalf("choices %d and %d, want 2", len(a.Choices), len(b.Choices))
	}
	for i := range 2 {
		if a.Choices[i].Index != i || a.Choices[i].Message.Content != b.Choices[i].Message.Content {
			t.Errorf("choice %d: %q then %q with the same seed", i, a.Choices[i].Message.Content, b.Choices[i].Message.Content)
		}
	}
	if a.Choices[0].Message.Content == a.Choices[1].Message.Content {
		t.Errorf("both choices are %q: they should draw with different seeds", a.Choices[0].Message.Content)
	}
	if want := direct(t, model.Request{Messages: hello, MaxTokens: 12, Sampling: model.SamplingParams{Temperature: 1.5, TopP: 0.95, Seed: 43}}); a.Choices[1].Message.Content != want.Text {
		t.Errorf("choice 1 %q, want the engine's answer with seed 43: %q", a.Choices[1].Message.Content, want.Text)
	}
	if a.Usage.CompletionTokens != 24 {
		t.Errorf("completion tokens %d, want 24 for two 12-token answers", a.Usage.CompletionTokens)
	}

	// Streamed, each choice opens, streams and finishes under its index.
	resp := post(t, srv.URL+"/v1/chat/completions", "", strings.Replace(body, `"n":2`, `"n":2,"stream":true`, 1))
	texts := map[int]string{}
	finished := map[int]int{}
	for _, e := range events(t, resp.Body) {
		if e == "[DONE]" {
			continue
		}
		var ch chatResponse
		if err := json.Unmarshal([]byte(e), &ch); err != nil {
			t.Fatal(err)
		}
		c := ch.Choices[0]
		texts[c.Index] += c.Delta.Content
		if c.FinishReason != nil {
			finished[c.Index]++
		}
	}
	for i := range 2 {
		if texts[i] != a.Choices[i].Message.Content || finished[i] != 1 {
			t.Errorf("streamed choice %d: %q finished %d times, want %q once", i, texts[i], finished[i], a.Choices[i].Message.Content)
		}
	}
}

func TestStopStrings(t *testing.T) {
	srv, _ := newServer(t, Config{})
	full := direct(t, model.Request{Messages: hello, MaxTokens: 40}).Text
	runes := []rune(strings.TrimSpace(full))
	if len(runes) < 6 {
		t.Fatalf("greedy answer %q too short to cut", full)
	}
	stop := string(runes[len(runes)/2 : len(runes)/2+2])
	want := full[:strings.Index(full, stop)]
	for _, stream := range []bool{false, true} {
		body, _ := json.Marshal(map[string]any{"messages": hello, "temperature": 0, "max_tokens": 40, "stop": []string{"never-seen-xyz", stop}, "stream": stream})
		resp := post(t, srv.URL+"/v1/chat/completions", "", string(body))
		var got, finish string
		if stream {
			for _, e := range events(t, resp.Body) {
				var ch chatResponse
				if e == "[DONE]" || json.Unmarshal([]byte(e), &ch) != nil {
					continue
				}
				got += ch.Choices[0].Delta.Content
				if fr := ch.Choices[0].FinishReason; fr != nil {
					finish = *fr
				}
			}
		} else {
			r := decodeBody[chatResponse](t, resp)
			got, finish = r.Choices[0].Message.Content, *r.Choices[0].FinishReason
		}
		if got != want || finish != "stop" {
			t.Errorf("stream=%v: got %q (%s), want %q cut before %q (stop)", stream, got, finish, want, stop)
		}
	}
}

func TestCompletionsRawPrompt(t *testing.T) {
	srv, _ := newServer(t, Config{})
	prompt := "<|im_start|>user\nCount to three.<|im_end|>\n<|im_start|>assistant\n"
	want := direct(t, model.Request{Raw: prompt, MaxTokens: 8})
	body, _ := json.Marshal(map[string]any{"prompt": prompt, "max_tokens": 8, "temperature": 0})
	got := decodeBody[completionResponse](t, post(t, srv.URL+"/v1/completions", "", string(body)))
	if got.Object != "text_completion" || len(got.Choices) != 1 || got.Choices[0].Text != want.Text {
		t.Fatalf("got %+v, want text %q", got, want.Text)
	}
	if got.Usage.PromptTokens != want.PromptTokens {
		t.Errorf("prompt tokens %d, want %d (special tokens in a raw prompt are recognised)", got.Usage.PromptTokens, want.PromptTokens)
	}
	body, _ = json.Marshal(map[string]any{"prompt": prompt, "max_tokens": 8, "temperature": 0, "stream": true})
	var text string
	for _, e := range events(t, post(t, srv.URL+"/v1/completions", "", string(body)).Body) {
		var ch completionResponse
		if e != "[DONE]" && json.Unmarshal([]byte(e), &ch) == nil {
			text += ch.Choices[0].Text
		}
	}
	if text != want.Text {
		t.Errorf("streamed %q, want %q", text, want.Text)
	}
}

func TestErrorsInOpenAIShape(t *testing.T) {
	srv, _ := newServer(t, Config{APIKey: "k", Limits: Limits{MaxTokens: 64, MaxBodyBytes: 4096}})
	long := strings.Repeat("word ", 2000)
	for _, tc := range []struct {
		name, path, key, body string
		status                int
		code, param           string
	}{
		{"no key", "/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}]}`, 401, "invalid_api_key", ""},
		{"wrong key", "/v1/chat/completions", "kk", `{"messages":[{"role":"user","content":"hi"}]}`, 401, "invalid_api_key", ""},
		{"models need the key", "/v1/models", "", ``, 401, "invalid_api_key", ""},
		{"bad json", "/v1/chat/completions", "k", `{"messages":`, 400, "invalid_json", ""},
		{"no messages", "/v1/chat/completions", "k", `{"messages":[]}`, 400, "", "messages"},
		{"bad role", "/v1/chat/completions", "k", `{"messages":[{"role":"function","content":"x"}]}`, 400, "", "messages[0].role"},
		{"image part", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "invalid_json", ""},
		{"temperature", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"}],"temperature":-1}`, 400, "", "temperature"},
		{"top_p", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"}],"top_p":3}`, 400, "", "top_p"},
		{"n", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"}],"n":9}`, 400, "", "n"},
		{"max_tokens over the limit", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":65}`, 400, "", "max_tokens"},
		{"max_tokens negative", "/v1/completions", "k", `{"prompt":"hi","max_tokens":-3}`, 400, "", "max_tokens"},
		{"tool without a name", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"description":"f"}}]}`, 400, "", "tools[0].function.name"},
		{"tool of another type", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"code_interpreter"}]}`, 400, "", "tools[0]"},
		{"tool parameters not a schema", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`, 400, "", "tools[0].function.parameters"},
		{"tool_choice required", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}`, 400, "", "tool_choice"},
		{"call without a name", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}`, 400, "", "messages[1].tool_calls[0].function.name"},
		{"arguments not JSON", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"a":}}}]}]}`, 400, "invalid_json", ""},
		{"empty prompt", "/v1/completions", "k", `{"prompt":""}`, 400, "", "prompt[0]"},
		{"body too large", "/v1/chat/completions", "k", `{"messages":[{"role":"user","content":"` + long + `"}]}`, 413, "request_too_large", ""},
		{"unknown endpoint", "/v1/embeddings", "k", `{}`, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.body == "" {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
				var err error
				if resp, err = http.DefaultClient.Do(req); err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
			} else {
				resp = post(t, srv.URL+tc.path, tc.key, tc.body)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			e := decodeBody[apiError](t, resp)
			if e.Error.Message == "" || e.Error.Type == "" {
				t.Errorf("error body %+v lacks message or type", e)
			}
			if tc.code != "" && (e.Error.Code == nil || *e.Error.Code != tc.code) {
				t.Errorf("code %v, want %q", e.Error.Code, tc.code)
			}
			if tc.param != "" && (e.Error.Param == nil || *e.Error.Param != tc.param) {
				t.Errorf("param %v, want %q (%s)", e.Error.Param, tc.param, e.Error.Message)
			}
		})
	}

	// The health check stays open without the key.
	resp, err := http.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/health: %d", resp.StatusCode)
	}
}

func TestContextLengthExceeded(t *testing.T) {
	srv, _ := newServer(t, Config{})
	long := strings.Repeat("many words here ", 400) // well over the 512-token window
	for _, stream := range []bool{false, true} {
		body, _ := json.Marshal(map[string]any{"messages": []model.Message{{Role: "user", Content: long}}, "stream": stream})
		resp := post(t, srv.URL+"/v1/chat/completions", "", string(body))
		e := decodeBody[apiError](t, resp)
		if resp.StatusCode != 400 || e.Error.Code == nil || *e.Error.Code != "context_length_exceeded" {
			t.Errorf("stream=%v: status %d, error %+v; want 400 context_length_exceeded", stream, resp.StatusCode, e.Error)
		}
	}
}

// TestDisconnectCancelsGeneration: a client that goes away mid-answer
// stops the engine's work on it.
func TestDisconnectCancelsGeneration(t *testing.T) {
	srv, rec := newServer(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	body := `{"messages":[{"role":"user","content":"Tell a long story."}],"temperature":1,"max_tokens":400,"stream":true}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for range 3 { // a few events, then hang up
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.results)
		rec.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the generation did not end after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := rec.last(); r.StopReason != model.StopCancelled || r.AnswerTokens >= 400 {
		t.Errorf("generation ended %q after %d tokens, want cancelled early", r.StopReason, r.AnswerTokens)
	}
}

// gate holds every generation until released, to fill the server.
type gate struct {
	Generator
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Generate(ctx context.Context, req model.Request, onToken func(string)) (model.Result, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Generator.Generate(ctx, req, onToken)
}

func TestBusyServerRefuses(t *testing.T) {
	g := &gate{Generator: tinyEngine(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(New(g, Config{ModelID: "m", Limits: Limits{MaxRequests: 1}}))
	defer srv.Close()
	body := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`
	done := make(chan int)
	go func() {
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-g.entered
	resp := post(t, srv.URL+"/v1/chat/completions", "", body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second request: %d, want 429", resp.StatusCode)
	}
	close(g.release)
	if code := <-done; code != 200 {
		t.Errorf("first request: %d", code)
	}
	// The slot is free again.
	g.entered = make(chan struct{}, 1)
	if resp := post(t, srv.URL+"/v1/chat/completions", "", body); resp.StatusCode != 200 {
		t.Errorf("after the first finished: %d", resp.StatusCode)
	}
}

func TestModels(t *testing.T) {
	srv, _ := newServer(t, Config{ModelID: "qwen2.5-0.5b-instruct-q8_0"})
	resp, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	l := decodeBody[modelList](t, resp)
	if l.Object != "list" || len(l.Data) != 1 || l.Data[0].ID != "qwen2.5-0.5b-instruct-q8_0" || l.Data[0].Object != "model" {
		t.Errorf("models %+v", l)
	}
	resp2, err := http.Get(srv.URL + "/v1/models/other")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if resp2.StatusCode != 404 {
		t.Errorf("/v1/models/other: %d", resp2.StatusCode)
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	s := New(tinyEngine(t), Config{ModelID: "m"})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe(ctx, "127.0.0.1:0") }()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
}
