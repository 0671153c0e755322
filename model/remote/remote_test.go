package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer speaks the OpenAI chat completions protocol. Each request is
// answered by the next step in steps (the last one repeats).
type fakeServer struct {
	*httptest.Server
	mu    sync.Mutex
	steps []func(w http.ResponseWriter, r *http.Request, req wireRequest)
	reqs  []wireRequest
	auth  []string
}

func newFake(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request, req wireRequest)) *fakeServer {
	t.Helper()
	f := &fakeServer{steps: steps}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			fmt.Fprint(w, `{"object":"list","data":[{"id":"qwen2.5:0.5b","object":"model"},{"id":"llama3.2:1b","object":"model"}]}`)
			return
		}
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var req wireRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		step := f.steps[min(len(f.reqs), len(f.steps))-1]
		f.mu.Unlock()
		step(w, r, req)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakeServer) client() *Client {
	return &Client{BaseURL: f.URL + "/v1", APIKey: "sk-test-1234", KeyEnv: "OPENAI_API_KEY", RetryDelay: time.Millisecond, Timeout: 5 * time.Second}
}

func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range events {
		fmt.Fprintf(w, "data: %s\n\n", e)
		w.(http.Flusher).Flush()
	}
}

func delta(model, text string) string {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": text}, "finish_reason": nil}},
	})
	return string(b)
}

func finish(model, reason string) string {
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":%q,"choices":[{"index":0,"delta":{},"finish_reason":%q}]}`, model, reason)
}

const usage = `{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"qwen2.5:0.5b","choices":[],"usage":{"prompt_tokens":21,"completion_tokens":3,"total_tokens":24}}`

func answer(w http.ResponseWriter, _ *http.Request, _ wireRequest) {
	sse(w,
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"qwen2.5:0.5b","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		delta("qwen2.5:0.5b", "你好"), delta("qwen2.5:0.5b", ", "), delta("qwen2.5:0.5b", "world"),
		finish("qwen2.5:0.5b", "stop"), usage, "[DONE]")
}

func status(code int, retryAfter, body string) func(http.ResponseWriter, *http.Request, wireRequest) {
	return func(w http.ResponseWriter, _ *http.Request, _ wireRequest) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

var testReq = Request{
	Model:       "qwen2.5:0.5b",
	Messages:    []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hi"}},
	Temperature: 0.7, TopP: 0.9, MaxTokens: 64, Seed: 42, Stop: []string{"</s>"},
}

func TestChatStreams(t *testing.T) {
	f := newFake(t, answer)
	var pieces []string
	resp, err := f.client().Chat(context.Background(), testReq, func(s string) { pieces = append(pieces, s) })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(pieces, "|"), "你好|, |world"; got != want {
		t.Errorf("deltas %q, want %q", got, want)
	}
	want := Response{Text: "你好, world", Model: "qwen2.5:0.5b", PromptTokens: 21, CompletionTokens: 3, FinishReason: "stop"}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("got %+v, want %+v", resp, want)
	}
	req := f.reqs[0]
	if !req.Stream || req.StreamOptions == nil || !req.StreamOptions.IncludeUsage {
		t.Errorf("request does not ask for a stream with usage: %+v", req)
	}
	if req.Model != "qwen2.5:0.5b" || req.Temperature != 0.7 || req.TopP != 0.9 || req.MaxTokens != 64 || req.Seed != 42 || len(req.Stop) != 1 || len(req.Messages) != 2 || req.Messages[1].Content == nil || *req.Messages[1].Content != "hi" {
		t.Errorf("request sent: %+v", req)
	}
	if f.auth[0] != "Bearer sk-test-1234" {
		t.Errorf("Authorization %q", f.auth[0])
	}
}

func TestChatGreedyTemperatureIsSent(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, req wireRequest) {
		answer(w, r, req)
	})
	req := testReq
	req.Temperature, req.TopP, req.Seed = 0, 0, 0
	if _, err := f.client().Chat(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	// The raw request must carry "temperature":0 (greedy), not omit it.
	b, _ := json.Marshal(f.reqs[0])
	if !strings.Contains(string(b), `"temperature":0`) || strings.Contains(string(b), `"top_p"`) || strings.Contains(string(b), `"seed"`) {
		t.Errorf("request %s", b)
	}
}

func TestChatRetries429ThenSucceeds(t *testing.T) {
	f := newFake(t, status(http.StatusTooManyRequests, "0", `{"error":{"message":"rate limited"}}`), answer)
	resp, err := f.client().Chat(context.Background(), testReq, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "你好, world" || f.requests() != 2 {
		t.Errorf("got %q after %d requests, want the answer after 2", resp.Text, f.requests())
	}
}

func TestChatHonoursRetryAfter(t *testing.T) {
	f := newFake(t, status(http.StatusTooManyRequests, "0.3", `{}`), answer)
	start := time.Now()
	if _, err := f.client().Chat(context.Background(), testReq, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("retried after %v, server asked for 300ms", d)
	}
}

func TestChatRetries5xxThenGivesUp(t *testing.T) {
	f := newFake(t, status(http.StatusBadGateway, "", `upstream down`))
	c := f.client()
	c.Retries = 2
	_, err := c.Chat(context.Background(), testReq, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("got %v, want ErrUnavailable mentioning 502", err)
	}
	if f.requests() != 3 {
		t.Errorf("%d requests, want 3", f.requests())
	}
}

func TestChatDroppedMidAnswer(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ wireRequest) {
		sse(w, delta("m", "The answer "), delta("m", "is"))
		panic(http.ErrAbortHandler) // the connection drops
	})
	var got strings.Builder
	resp, err := f.client().Chat(context.Background(), testReq, func(s string) { got.WriteString(s) })
	if !errors.Is(err, ErrStreamInterrupted) {
		t.Fatalf("got %v, want ErrStreamInterrupted", err)
	}
	if resp.Text != "The answer is" || got.String() != resp.Text || resp.FinishReason != "" {
		t.Errorf("partial answer %+v, streamed %q", resp, got.String())
	}
	if f.requests() != 1 {
		t.Errorf("%d requests: an answer already streamed must not be retried", f.requests())
	}
}

func TestChatDroppedBeforeFirstTokenIsRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ wireRequest) {
		sse(w, `{"choices":[{"index":0,"delta":{"role":"assistant"}}]}`)
		panic(http.ErrAbortHandler)
	}, answer)
	resp, err := f.client().Chat(context.Background(), testReq, nil)
	if err != nil || resp.Text != "你好, world" || f.requests() != 2 {
		t.Fatalf("got %+v, %v after %d requests", resp, err, f.requests())
	}
}

func TestChatStreamEndingWithoutDone(t *testing.T) {
	// A clean end of stream after some text but without finish_reason or
	// [DONE] is a cut answer too.
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ wireRequest) {
		sse(w, delta("m", "half"))
	})
	resp, err := f.client().Chat(context.Background(), testReq, nil)
	if !errors.Is(err, ErrStreamInterrupted) || resp.Text != "half" {
		t.Fatalf("got %+v, %v", resp, err)
	}
}

func TestChatIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ wireRequest) {
		sse(w, delta("m", "thinking"))
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := f.client()
	c.Timeout = 200 * time.Millisecond
	start := time.Now()
	resp, err := c.Chat(context.Background(), testReq, nil)
	if !errors.Is(err, ErrStreamInterrupted) || !strings.Contains(err.Error(), "no data") || resp.Text != "thinking" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestChatCancelled(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ wireRequest) {
		sse(w, delta("m", "a"))
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := f.client().Chat(ctx, testReq, func(string) { cancel() })
	if !errors.Is(err, ErrStreamInterrupted) && !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if resp.Text != "a" || f.requests() != 1 {
		t.Errorf("got %+v after %d requests", resp, f.requests())
	}
}

func TestChatUnauthorized(t *testing.T) {
	f := newFake(t, status(http.StatusUnauthorized, "", `{"error":{"message":"Incorrect API key provided: sk-test-1234","type":"invalid_request_error"}}`))
	_, err := f.client().Chat(context.Background(), testReq, nil)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "$OPENAI_API_KEY") {
		t.Fatalf("got %v, want ErrUnauthorized naming $OPENAI_API_KEY", err)
	}
	if strings.Contains(err.Error(), "sk-test-1234") {
		t.Errorf("the error repeats the API key: %v", err)
	}
	if f.requests() != 1 {
		t.Errorf("%d requests: a rejected key must not be retried", f.requests())
	}
}

func TestChatModelNotFound(t *testing.T) {
	f := newFake(t, status(http.StatusNotFound, "", `{"error":{"message":"model \"qwen2.5:0.5b\" not found, try pulling it first"}}`))
	_, err := f.client().Chat(context.Background(), testReq, nil)
	if !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), `"qwen2.5:0.5b"`) || !strings.Contains(err.Error(), f.URL) {
		t.Fatalf("got %v, want ErrModelNotFound naming the model and base URL", err)
	}
}

func TestChatBadRequestIsNotRetried(t *testing.T) {
	f := newFake(t, status(http.StatusBadRequest, "", `{"error":{"message":"max_tokens is too large"}}`))
	_, err := f.client().Chat(context.Background(), testReq, nil)
	if err == nil || !strings.Contains(err.Error(), "max_tokens is too large") || f.requests() != 1 {
		t.Fatalf("got %v after %d requests", err, f.requests())
	}
}

func TestChatErrorEventInStream(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ wireRequest) {
		sse(w, `{"error":{"message":"context length exceeded"}}`)
	})
	_, err := f.client().Chat(context.Background(), testReq, nil)
	if err == nil || !strings.Contains(err.Error(), "context length exceeded") || f.requests() != 1 {
		t.Fatalf("got %v after %d requests", err, f.requests())
	}
}

func TestChatNonStreamingServer(t *testing.T) {
	f := newFake(t, status(http.StatusOK, "", `{"id":"x","object":"chat.completion","model":"m1","choices":[{"index":0,"message":{"role":"assistant","content":"whole answer"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}`))
	var got string
	resp, err := f.client().Chat(context.Background(), testReq, func(s string) { got += s })
	want := Response{Text: "whole answer", Model: "m1", PromptTokens: 5, CompletionTokens: 2, FinishReason: "length"}
	if err != nil || !reflect.DeepEqual(resp, want) || got != "whole answer" {
		t.Fatalf("got %+v, %v, streamed %q", resp, err, got)
	}
}

func TestChatNoKeyNoAuthorizationHeader(t *testing.T) {
	f := newFake(t, answer)
	c := f.client()
	c.APIKey = ""
	if _, err := c.Chat(context.Background(), testReq, nil); err != nil {
		t.Fatal(err)
	}
	if f.auth[0] != "" {
		t.Errorf("Authorization %q sent without a key", f.auth[0])
	}
}

func TestModels(t *testing.T) {
	f := newFake(t, answer)
	ids, err := f.client().Models(context.Background())
	if err != nil || strings.Join(ids, ",") != "qwen2.5:0.5b,llama3.2:1b" {
		t.Fatalf("got %q, %v", ids, err)
	}
}

func TestChatUnreachable(t *testing.T) {
	f := newFake(t, answer)
	url := f.URL
	f.Close()
	c := &Client{BaseURL: url + "/v1", Retries: 1, RetryDelay: time.Millisecond}
	_, err := c.Chat(context.Background(), testReq, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}

func TestChatConcurrentUse(t *testing.T) {
	f := newFake(t, answer)
	c := &Client{BaseURL: f.URL + "/v1"} // default HTTP client, made once
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			resp, err := c.Chat(context.Background(), testReq, nil)
			if err == nil && resp.Text != "你好, world" {
				err = fmt.Errorf("got %q", resp.Text)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
