// Package remote is a client for OpenAI-compatible chat completion
// servers: Ollama, llama.cpp's server, vLLM and hosted services. Answers
// stream as server-sent events; requests that fail before the first token
// (429, 5xx, a dropped connection) are retried with backoff.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/model/internal/httpwait"

	"github.com/chatloop/chatloop/model/chat"
)

// Errors a request can end with, wrapped with details.
var (
	// ErrUnauthorized: the server refused the API key (401/403).
	ErrUnauthorized = errors.New("API key rejected")
	// ErrModelNotFound: the server does not know the model, or the base
	// URL is not an OpenAI-compatible API (404).
	ErrModelNotFound = errors.New("model not found")
	// ErrStreamInterrupted: the answer stopped before the server said it
	// was complete; the text received so far is returned with it.
	ErrStreamInterrupted = errors.New("answer stream interrupted")
	// ErrUnavailable: the server kept failing (429, 5xx, connection
	// errors) through every retry.
	ErrUnavailable = errors.New("server unavailable")
)

// Message is one chat message.
type Message = chat.Message

// Request is one chat completion request.
type Request struct {
	Model    string
	Messages []Message
	// Temperature is always sent; 0 asks for greedy decoding.
	Temperature float64
	// TopP, MaxTokens and Seed are sent when non-zero.
	TopP      float64
	MaxTokens int
	Seed      uint64
	Stop      []string
	// Tools are offered to the model (the chat completions API's "tools");
	// none: plain chat.
	Tools []chat.Tool
}

// Response is a finished (or, with ErrStreamInterrupted, partial) answer.
type Response struct {
	Text string
	// Model is the model the server says answered.
	Model            string
	PromptTokens     int
	CompletionTokens int
	// FinishReason is the server's: "stop", "length", "tool_calls", ...;
	// empty when the stream was cut.
	FinishReason string
	// ToolCalls are the calls the model asked for, assembled from the
	// streamed pieces; only a complete answer carries them.
	ToolCalls []chat.ToolCall
}

// Client talks to one OpenAI-compatible server.
type Client struct {
	// BaseURL is the API root, e.g. "http://127.0.0.1:11434/v1".
	BaseURL string
	// APIKey is sent as a bearer token when set. It is never logged.
	APIKey string
	// KeyEnv names the environment variable the key comes from, for
	// error messages.
	KeyEnv string
	// HTTP is the client used; nil means NewHTTPClient(Timeout).
	HTTP *http.Client
	// Timeout bounds the wait for the response headers and for each
	// piece of a streamed answer; 0 means 120s.
	Timeout time.Duration
	// Retries is how many times a request failing before its first token
	// is retried; 0 means 4, negative means none.
	Retries int
	// RetryDelay is the first backoff delay, doubled each time up to 30s;
	// 0 means 500ms.
	RetryDelay time.Duration
	// Log receives retries; nil discards them.
	Log *slog.Logger

	defaultHTTP sync.Once
}

// NewHTTPClient returns a client honouring proxy settings from the
// environment and the system's CA bundle, with connection and response
// header timeouts and no overall timeout (answers stream).
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 120 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Transport: tr}
}

func (c *Client) client() *http.Client {
	c.defaultHTTP.Do(func() {
		if c.HTTP == nil {
			c.HTTP = NewHTTPClient(c.timeout())
		}
	})
	return c.HTTP
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 120 * time.Second
}

func (c *Client) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Client) endpoint(path string) string {
	return strings.TrimRight(c.BaseURL, "/") + path
}

type wireRequest struct {
	Model         string        `json:"model"`
	Messages      []wireMessage `json:"messages"`
	Tools         []chat.Tool   `json:"tools,omitempty"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	Temperature float64  `json:"temperature"`
	TopP        float64  `json:"top_p,omitempty"`
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Seed        int64    `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
}

// Chat sends req and streams the answer: onDelta (which may be nil) gets
// each piece of text as it arrives. A request that fails before any text
// arrived is retried; one cut afterwards returns the partial Response and
// an error wrapping ErrStreamInterrupted.
func (c *Client) Chat(ctx context.Context, req Request, onDelta func(string)) (Response, error) {
	if req.Model == "" {
		return Response{}, errors.New("remote: no model named (set model.remote_model)")
	}
	w := wireRequest{
		Model: req.Model, Messages: wireMessages(req.Messages), Tools: req.Tools, Stream: true,
		Temperature: req.Temperature, TopP: req.TopP, MaxTokens: req.MaxTokens, Stop: req.Stop,
		Seed: int64(req.Seed & math.MaxInt64),
	}
	w.StreamOptions = &struct {
		IncludeUsage bool `json:"include_usage"`
	}{true}
	body, err := json.Marshal(w)
	if err != nil {
		return Response{}, fmt.Errorf("remote: %w", err)
	}
	retries := c.Retries
	switch {
	case retries == 0:
		retries = 4
	case retries < 0:
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		resp, delivered, err := c.chatOnce(ctx, req.Model, body, onDelta)
		if err == nil || delivered || ctx.Err() != nil {
			return resp, err
		}
		var re *retryError
		if !errors.As(err, &re) {
			return resp, err
		}
		if attempt >= retries {
			return resp, fmt.Errorf("%w after %d attempts: %v", ErrUnavailable, attempt+1, re.err)
		}
		wait := c.backoff(attempt + 1)
		if re.after > 0 {
			wait = re.after
		}
		c.log().Warn("remote model request failed, retrying", "base_url", c.BaseURL, "err", re.err, "wait", wait)
		if err := httpwait.Sleep(ctx, wait); err != nil {
			return resp, err
		}
	}
}

// chatOnce makes one request. delivered reports whether any text reached
// onDelta (after which the request must not be repeated).
func (c *Client) chatOnce(parent context.Context, model string, body []byte, onDelta func(string)) (Response, bool, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint("/chat/completions"), bytes.NewReader(body))
	if err != nil {
		return Response{}, false, fmt.Errorf("remote: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	if c.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	resp, err := c.client().Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return Response{}, false, ctx.Err()
		}
		return Response{}, false, retryable(fmt.Errorf("%s: %v", c.host(), unwrapURLError(err)), 0)
	}
	defer resp.Body.Close()
	if err := c.statusError(resp, model); err != nil {
		return Response{}, false, err
	}

	// A watchdog cancels the request when the server goes quiet.
	watchdog := time.AfterFunc(c.timeout(), cancel)
	defer watchdog.Stop()
	body2 := &activityReader{r: resp.Body, onRead: func() { watchdog.Reset(c.timeout()) }}

	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		out, err := readCompletion(io.LimitReader(body2, 16<<20))
		if err == nil && out.Text != "" && onDelta != nil {
			onDelta(out.Text)
		}
		return out, out.Text != "", err
	}
	out, err := readStream(body2, onDelta)
	if out.Model == "" {
		out.Model = model
	}
	if err != nil {
		if ctx.Err() != nil && parent.Err() == nil {
			err = fmt.Errorf("no data for %s: %w", c.timeout(), err)
		}
		switch {
		case out.Text != "":
			return out, true, fmt.Errorf("%w: %v", ErrStreamInterrupted, err)
		case errors.Is(err, errServer):
			return out, false, err
		}
		return out, false, retryable(err, 0)
	}
	return out, out.Text != "", nil
}

func (c *Client) statusError(resp *http.Response, model string) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	msg := c.redact(serverMessage(resp.Body))
	if msg != "" {
		msg = ": " + msg
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		env := c.KeyEnv
		if env == "" {
			env = "OPENAI_API_KEY"
		}
		if c.APIKey == "" {
			return fmt.Errorf("%w: %s needs an API key and none was sent (set $%s)%s", ErrUnauthorized, c.host(), env, msg)
		}
		return fmt.Errorf("%w by %s (set $%s)%s", ErrUnauthorized, c.host(), env, msg)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: model %q not found at %s (is the model pulled there, and is the base URL the API root, such as http://host:11434/v1?)%s", ErrModelNotFound, model, c.BaseURL, msg)
	case code == http.StatusTooManyRequests || code >= 500:
		return retryable(fmt.Errorf("%s answered %d%s", c.host(), code, msg), httpwait.RetryAfter(resp.Header, 2*time.Minute))
	}
	return fmt.Errorf("remote: %s answered %d%s", c.host(), code, msg)
}

// redact removes the API key from text a server sent back.
func (c *Client) redact(s string) string {
	if c.APIKey != "" && len(c.APIKey) >= 4 {
		s = strings.ReplaceAll(s, c.APIKey, "[key]")
	}
	return s
}

func (c *Client) host() string {
	if u, err := url.Parse(c.BaseURL); err == nil && u.Host != "" {
		return u.Host
	}
	return "the server"
}

func (c *Client) backoff(n int) time.Duration {
	d := c.RetryDelay
	if d <= 0 {
		d = 500 * time.Millisecond
	}
	for i := 1; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// Models lists the model ids the server offers (GET /models).
func (c *Client) Models(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint("/models"), nil)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	resp, err := c.client().Do(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("remote: %s: %v", c.host(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if err := c.statusError(resp, ""); err != nil {
		var re *retryError
		if errors.As(err, &re) {
			return nil, re.err
		}
		return nil, err
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("remote: model list from %s: %w", c.host(), err)
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	return ids, nil
}

// serverMessage extracts a short error message from an error body:
// {"error":{"message":…}}, {"error":"…"} or plain text.
func serverMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 8<<10))
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(e.Error, &obj) == nil && obj.Message != "":
			msg = obj.Message
		case json.Unmarshal(e.Error, &s) == nil && s != "":
			msg = s
		case e.Message != "":
			msg = e.Message
		}
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return strings.Join(strings.Fields(msg), " ")
}

type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

func retryable(err error, after time.Duration) error { return &retryError{err: err, after: after} }

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

type activityReader struct {
	r      io.Reader
	onRead func()
}

func (a *activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.onRead()
	}
	return n, err
}
