// Package server serves a local engine over the OpenAI-compatible HTTP API
// that llama.cpp's server and Ollama speak: chat completions (streamed as
// server-sent events or not), raw-prompt completions, the model list and a
// health check. Concurrent requests go to the engine together, so they
// share its batched scheduler and its prefix cache.
package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	randv2 "math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/chat"
)

// Generator is the engine behind the server; *model.Engine is one.
type Generator interface {
	Generate(ctx context.Context, req model.Request, onToken func(string)) (model.Result, error)
	ContextSize() int
	// ToolCallFormat is how the model writes tool calls (read from the
	// answers when a request offers tools).
	ToolCallFormat() chat.ToolCallFormat
}

// Limits a request must keep within. A zero field takes its default.
type Limits struct {
	// MaxTokens caps an answer's tokens (max_tokens); default: the
	// context window.
	MaxTokens int
	// MaxN caps the choices of one request (n); default 4.
	MaxN int
	// MaxBodyBytes caps a request body; default 1 MiB.
	MaxBodyBytes int64
	// MaxRequests caps the generation requests being answered or waiting
	// for the engine at once; one more is refused with 429. Default 64.
	MaxRequests int
	// MaxStop caps the stop strings of a request; default 16.
	MaxStop int
	// MaxConnections caps the connections served at once (idle, reading
	// headers or streaming); more wait in the kernel's backlog, so that a
	// flood of stalled connections cannot hold memory. Default 256.
	MaxConnections int
}

// Config configures a Server.
type Config struct {
	// ModelID is the id /v1/models lists and every answer names.
	ModelID string
	// APIKey, when set, is required as a bearer token on every /v1/
	// endpoint (checked in constant time); /health stays open.
	APIKey string
	// Sampling holds the defaults for what a request leaves out
	// (temperature, top_p, top_k, min_p, repeat penalty).
	Sampling model.SamplingParams
	Limits   Limits
	Log      *slog.Logger
}

// Server answers the OpenAI-compatible API. It is an http.Handler.
type Server struct {
	gen     Generator
	cfg     Config
	lim     Limits
	log     *slog.Logger
	created int64
	slots   chan struct{}
	mux     *http.ServeMux
}

// New returns a server for gen.
func New(gen Generator, cfg Config) *Server {
	lim := cfg.Limits
	if lim.MaxTokens <= 0 || lim.MaxTokens > gen.ContextSize() {
		lim.MaxTokens = gen.ContextSize()
	}
	if lim.MaxN <= 0 {
		lim.MaxN = 4
	}
	if lim.MaxBodyBytes <= 0 {
		lim.MaxBodyBytes = 1 << 20
	}
	if lim.MaxRequests <= 0 {
		lim.MaxRequests = 64
	}
	if lim.MaxStop <= 0 {
		lim.MaxStop = 16
	}
	if lim.MaxConnections <= 0 {
		lim.MaxConnections = 256
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{gen: gen, cfg: cfg, lim: lim, log: log, created: time.Now().Unix(), slots: make(chan struct{}, lim.MaxRequests)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /v1/health", s.health)
	mux.Handle("GET /v1/models", s.auth(http.HandlerFunc(s.models)))
	mux.Handle("GET /v1/models/{id}", s.auth(http.HandlerFunc(s.oneModel)))
	mux.Handle("POST /v1/chat/completions", s.auth(s.generation(s.chat)))
	mux.Handle("POST /v1/completions", s.auth(s.generation(s.completions)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	s.mux = mux
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// ListenAndServe serves on addr until ctx is cancelled, then shuts down,
// giving running answers up to 5 seconds. Headers must arrive within 10
// seconds and a request body within 30; answers stream for as long as they
// take.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener of the caller's.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ln = netutil.LimitListener(ln, s.lim.MaxConnections)
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: it would cancel streamed answers that outlast
		// it. decode bounds the body's time instead.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return ctx },
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving the OpenAI-compatible API", "addr", ln.Addr().String(), "model", s.cfg.ModelID, "api_key", s.cfg.APIKey != "")
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) modelObject() modelObject {
	return modelObject{ID: s.cfg.ModelID, Object: "model", Created: s.created, OwnedBy: "chatloop"}
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, modelList{Object: "list", Data: []modelObject{s.modelObject()}})
}

func (s *Server) oneModel(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); id != s.cfg.ModelID {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", fmt.Sprintf("the model %q does not exist; this server has %q", id, s.cfg.ModelID))
		return
	}
	writeJSON(w, http.StatusOK, s.modelObject())
}

// auth requires the API key, when one is set.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.APIKey == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			msg := "Incorrect API key provided."
			if len(got) == 0 {
				msg = "You didn't provide an API key. Send it as a bearer token in the Authorization header."
			}
			writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// generation caps the body of a generation request and the number of
// requests in flight.
func (s *Server) generation(h func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			writeError(w, http.StatusTooManyRequests, "server_error", "server_busy", fmt.Sprintf("the server is answering %d requests; try again shortly", s.lim.MaxRequests))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.lim.MaxBodyBytes)
		h(w, r)
	})
}

// bodyTime bounds the time a client may take to send a request body.
const bodyTime = 30 * time.Second

// decode reads a JSON body into v, answering the error itself.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyTime))
	err := json.NewDecoder(r.Body).Decode(v)
	_ = rc.SetReadDeadline(time.Time{})
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", fmt.Sprintf("the request body is over %d bytes", s.lim.MaxBodyBytes))
		return false
	}
	writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "could not parse the request body: "+err.Error())
	return false
}

// sampling is what a request may set of the sampling parameters.
type sampling struct {
	MaxTokens, MaxCompletionTokens *int
	Temperature, TopP, MinP        *float64
	TopK                           *int
	Seed                           *int64
	Stop                           []string
	N                              *int
}

// badRequest is a validation failure naming its parameter.
type badRequest struct{ param, msg string }

func (e *badRequest) Error() string { return e.msg }

func bad(param, format string, args ...any) error {
	return &badRequest{param: param, msg: fmt.Sprintf(format, args...)}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// requests turns p into n engine requests sharing base (messages or raw
// prompt); choice i gets seed+i when a seed is given, a fresh random seed
// otherwise.
func (s *Server) requests(base model.Request, p sampling) ([]model.Request, error) {
	sp := s.cfg.Sampling
	if p.Temperature != nil {
		if t := *p.Temperature; !finite(t) || t < 0 || t > 2 {
			return nil, bad("temperature", "temperature must be between 0 and 2, got %v", t)
		}
		sp.Temperature = *p.Temperature
	}
	if p.TopP != nil {
		if v := *p.TopP; !finite(v) || v <= 0 || v > 1 {
			return nil, bad("top_p", "top_p must be above 0 and at most 1, got %v", v)
		}
		sp.TopP = *p.TopP
	}
	if p.MinP != nil {
		if v := *p.MinP; !finite(v) || v < 0 || v > 1 {
			return nil, bad("min_p", "min_p must be between 0 and 1, got %v", v)
		}
		sp.MinP = *p.MinP
	}
	if p.TopK != nil {
		if *p.TopK < 0 {
			return nil, bad("top_k", "top_k must be 0 (off) or more, got %d", *p.TopK)
		}
		sp.TopK = *p.TopK
	}
	maxTokens := s.lim.MaxTokens
	for _, m := range []struct {
		name string
		v    *int
	}{{"max_tokens", p.MaxTokens}, {"max_completion_tokens", p.MaxCompletionTokens}} {
		if m.v == nil {
			continue
		}
		if *m.v < 1 || *m.v > s.lim.MaxTokens {
			return nil, bad(m.name, "%s must be between 1 and %d, got %d", m.name, s.lim.MaxTokens, *m.v)
		}
		maxTokens = *m.v
	}
	n := 1
	if p.N != nil {
		if *p.N < 1 || *p.N > s.lim.MaxN {
			return nil, bad("n", "n must be between 1 and %d, got %d", s.lim.MaxN, *p.N)
		}
		n = *p.N
	}
	if len(p.Stop) > s.lim.MaxStop {
		return nil, bad("stop", "at most %d stop strings, got %d", s.lim.MaxStop, len(p.Stop))
	}
	var stops []string
	for _, st := range p.Stop {
		if st != "" {
			stops = append(stops, st)
		}
	}
	seed := randv2.Uint64()
	if p.Seed != nil {
		seed = uint64(*p.Seed)
	}
	base.MaxTokens, base.Stop = maxTokens, stops
	reqs := make([]model.Request, n)
	for i := range reqs {
		reqs[i] = base
		reqs[i].Sampling = sp
		reqs[i].Sampling.Seed = seed + uint64(i)
	}
	return reqs, nil
}

// finishReason maps the engine's stop reason onto OpenAI's.
func finishReason(r model.Result) *string {
	reason := "stop"
	switch r.StopReason {
	case model.StopLength, model.StopContext:
		reason = "length"
	}
	return &reason
}

// chatFinishReason is finishReason for an answer that may have called
// tools: "tool_calls" when it did and was not cut short.
func chatFinishReason(r model.Result, calls int) *string {
	reason := finishReason(r)
	if calls > 0 && *reason == "stop" {
		s := "tool_calls"
		return &s
	}
	return reason
}

// choiceText is one piece of one choice's answer.
type choiceText struct {
	index int
	text  string
}

// generate runs every request at once (the engine batches them) and calls
// onText, serialised, with each piece and, when a choice ends, onDone. The
// first error cancels the others.
func (s *Server) generate(ctx context.Context, reqs []model.Request, onText func(choiceText), onDone func(int, model.Result)) ([]model.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		results = make([]model.Result, len(reqs))
		first   error
	)
	for i, req := range reqs {
		wg.Go(func() {
			res, err := s.gen.Generate(ctx, req, func(text string) {
				mu.Lock()
				defer mu.Unlock()
				if first == nil && onText != nil {
					onText(choiceText{i, text})
				}
			})
			mu.Lock()
			defer mu.Unlock()
			results[i] = res
			if err != nil {
				if first == nil {
					first = err
				}
				cancel()
				return
			}
			if first == nil && onDone != nil {
				onDone(i, res)
			}
		})
	}
	wg.Wait()
	return results, first
}

// totalUsage adds up the choices' tokens; the prompt counts once.
func totalUsage(results []model.Result) *usage {
	u := &usage{}
	for i, r := range results {
		if i == 0 {
			u.PromptTokens = r.PromptTokens
			u.PromptTokensDetails = &tokenDetails{CachedTokens: r.CachedTokens}
		}
		u.CompletionTokens += r.AnswerTokens
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// generationError answers an error that ended a generation before any of
// it was sent.
func (s *Server) generationError(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	switch {
	case errors.As(err, &br):
		writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", "", br.param, br.msg)
	case errors.Is(err, model.ErrContextFull):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "context_length_exceeded", err.Error())
	case r.Context().Err() != nil:
		// The client has gone; nobody reads an answer.
		s.log.Info("client went away; generation cancelled", "path", r.URL.Path)
	case errors.Is(err, model.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "server_error", "shutting_down", "the server is shutting down")
	default:
		s.log.Error("generation failed", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "", "generation failed: "+err.Error())
	}
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, typ, errCode, msg string) {
	writeErrorParam(w, code, typ, errCode, "", msg)
}

func writeErrorParam(w http.ResponseWriter, code int, typ, errCode, param, msg string) {
	body := errorBody{Message: msg, Type: typ}
	if errCode != "" {
		body.Code = &errCode
	}
	if param != "" {
		body.Param = &param
	}
	writeJSON(w, code, apiError{Error: body})
}

// chatRoles maps the roles a request may use onto the template's.
var chatRoles = map[string]string{"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": chat.RoleTool}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if !s.decode(w, r, &req) {
		return
	}
	tools, err := chatTools(req.Tools, req.ToolChoice)
	if err != nil {
		s.generationError(w, r, err)
		return
	}
	if len(req.Messages) == 0 {
		writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", "", "messages", "messages must hold at least one message")
		return
	}
	base := model.Request{Messages: make([]model.Message, len(req.Messages)), Tools: tools}
	for i, m := range req.Messages {
		role, ok := chatRoles[m.Role]
		if !ok {
			writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", "", fmt.Sprintf("messages[%d].role", i), fmt.Sprintf("role %q is not supported (system, developer, user, assistant, tool)", m.Role))
			return
		}
		calls, err := messageToolCalls(m.ToolCalls, fmt.Sprintf("messages[%d]", i))
		if err != nil {
			s.generationError(w, r, err)
			return
		}
		base.Messages[i] = model.Message{Role: role, Content: string(m.Content), ToolCalls: calls, ToolCallID: m.ToolCallID, Name: m.Name}
	}
	format := s.gen.ToolCallFormat()
	reqs, err := s.requests(base, sampling{
		MaxTokens: req.MaxTokens, MaxCompletionTokens: req.MaxCompletionTokens,
		Temperature: req.Temperature, TopP: req.TopP, MinP: req.MinP, TopK: req.TopK,
		Seed: req.Seed, Stop: req.Stop, N: req.N,
	})
	if err != nil {
		s.generationError(w, r, err)
		return
	}
	resp := chatResponse{ID: newID("chatcmpl-"), Object: "chat.completion", Created: time.Now().Unix(), Model: s.cfg.ModelID}
	start := time.Now()
	if !req.Stream {
		results, err := s.generate(r.Context(), reqs, nil, nil)
		if err != nil {
			s.generationError(w, r, err)
			return
		}
		for i, res := range results {
			text, calls := answerCalls(format, len(tools) > 0, res.Text)
			msg := &outMessage{Role: "assistant", Content: text}
			if len(calls) > 0 {
				msg.ToolCalls, msg.nullContent = wireCalls(calls), text == ""
			}
			resp.Choices = append(resp.Choices, chatChoice{Index: i, Message: msg, FinishReason: chatFinishReason(res, len(calls))})
		}
		resp.Usage = totalUsage(results)
		writeJSON(w, http.StatusOK, resp)
		s.logDone(r, results, start)
		return
	}

	es := newEventStream(w)
	resp.Object = "chat.completion.chunk"
	chunk := func(c chatChoice) chatResponse {
		out := resp
		out.Choices = []chatChoice{c}
		return out
	}
	opened := make([]bool, len(reqs))
	open := func(i int) {
		if !opened[i] {
			opened[i] = true
			es.send(chunk(chatChoice{Index: i, Delta: &outMessage{Role: "assistant"}}))
		}
	}
	// With tools, each choice's text goes through a parser that holds the
	// calls back; they are sent when the choice ends, each as a delta
	// with its index, id, type and name, then one with its arguments.
	parsers := make([]*chat.ToolCallParser, len(reqs))
	if len(tools) > 0 {
		for i := range parsers {
			parsers[i] = chat.NewToolCallParser(format)
		}
	}
	sendText := func(i int, text string) {
		if text == "" {
			return
		}
		open(i)
		es.send(chunk(chatChoice{Index: i, Delta: &outMessage{Content: text}}))
	}
	results, err := s.generate(r.Context(), reqs, func(c choiceText) {
		text := c.text
		if p := parsers[c.index]; p != nil {
			text = p.Write(text)
		}
		sendText(c.index, text)
	}, func(i int, res model.Result) {
		var calls []chat.ToolCall
		if p := parsers[i]; p != nil {
			var rest string
			rest, calls = p.Close()
			sendText(i, rest)
		}
		open(i)
		for k, c := range wireCalls(calls) {
			index := k
			args := c.Function.Arguments
			c.Index, c.Function.Arguments = &index, ""
			es.send(chunk(chatChoice{Index: i, Delta: &outMessage{ToolCalls: []wireToolCall{c}, nullContent: true}}))
			es.send(chunk(chatChoice{Index: i, Delta: &outMessage{ToolCalls: []wireToolCall{{Index: &index, Function: &wireFunction{Arguments: args}}}, nullContent: true}}))
		}
		es.send(chunk(chatChoice{Index: i, Delta: &outMessage{}, FinishReason: chatFinishReason(res, len(calls))}))
	})
	if err != nil {
		s.streamError(es, w, r, err)
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		u := resp
		u.Choices, u.Usage = []chatChoice{}, totalUsage(results)
		es.send(u)
	}
	es.done()
	s.logDone(r, results, start)
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if !s.decode(w, r, &req) {
		return
	}
	if len(req.Prompt) == 0 {
		writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", "", "prompt", "prompt must be a non-empty string or array of strings")
		return
	}
	if len(req.Prompt) > s.lim.MaxN {
		writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", "", "prompt", fmt.Sprintf("at most %d prompts in one request, got %d", s.lim.MaxN, len(req.Prompt)))
		return
	}
	var reqs []model.Request
	for i, p := range req.Prompt {
		if p == "" {
			writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", "", fmt.Sprintf("prompt[%d]", i), "a prompt must not be empty")
			return
		}
		rs, err := s.requests(model.Request{Raw: p}, sampling{
			MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, MinP: req.MinP, TopK: req.TopK,
			Seed: req.Seed, Stop: req.Stop, N: req.N,
		})
		if err != nil {
			s.generationError(w, r, err)
			return
		}
		reqs = append(reqs, rs...)
	}
	if len(reqs) > s.lim.MaxN*s.lim.MaxN {
		writeErrorParam(w, http.StatusBadRequest, "invalid_request_error", "", "n", "too many choices in one request")
		return
	}
	resp := completionResponse{ID: newID("cmpl-"), Object: "text_completion", Created: time.Now().Unix(), Model: s.cfg.ModelID}
	start := time.Now()
	if !req.Stream {
		results, err := s.generate(r.Context(), reqs, nil, nil)
		if err != nil {
			s.generationError(w, r, err)
			return
		}
		for i, res := range results {
			resp.Choices = append(resp.Choices, textChoice{Index: i, Text: res.Text, FinishReason: finishReason(res)})
		}
		resp.Usage = totalUsage(results)
		writeJSON(w, http.StatusOK, resp)
		s.logDone(r, results, start)
		return
	}
	es := newEventStream(w)
	chunk := func(c textChoice) completionResponse {
		out := resp
		out.Choices = []textChoice{c}
		return out
	}
	results, err := s.generate(r.Context(), reqs, func(c choiceText) {
		es.send(chunk(textChoice{Index: c.index, Text: c.text}))
	}, func(i int, res model.Result) {
		es.send(chunk(textChoice{Index: i, FinishReason: finishReason(res)}))
	})
	if err != nil {
		s.streamError(es, w, r, err)
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		u := resp
		u.Choices, u.Usage = []textChoice{}, totalUsage(results)
		es.send(u)
	}
	es.done()
	s.logDone(r, results, start)
}

// streamError ends a stream that failed: before anything was sent, as an
// ordinary error response; afterwards, as an error event (as llama.cpp's
// server does), since the status line is gone.
func (s *Server) streamError(es *eventStream, w http.ResponseWriter, r *http.Request, err error) {
	if !es.started {
		s.generationError(w, r, err)
		return
	}
	if r.Context().Err() != nil {
		s.log.Info("client went away; generation cancelled", "path", r.URL.Path)
		return
	}
	s.log.Error("generation failed mid-stream", "path", r.URL.Path, "err", err)
	es.send(apiError{Error: errorBody{Message: "generation failed: " + err.Error(), Type: "server_error"}})
	es.done()
}

func (s *Server) logDone(r *http.Request, results []model.Result, start time.Time) {
	u := totalUsage(results)
	s.log.Info("answered", "path", r.URL.Path, "choices", len(results), "prompt_tokens", u.PromptTokens,
		"cached_tokens", u.PromptTokensDetails.CachedTokens, "completion_tokens", u.CompletionTokens, "duration", time.Since(start).Round(time.Millisecond))
}

// eventStream writes server-sent events. The status line and headers go
// out with the first event, so that an error before it can still be an
// ordinary error response. Calls must be serialised by the caller.
type eventStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	failed  bool
}

func newEventStream(w http.ResponseWriter) *eventStream {
	return &eventStream{w: w, rc: http.NewResponseController(w)}
}

func (e *eventStream) start() {
	if e.started {
		return
	}
	e.started = true
	h := e.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	e.w.WriteHeader(http.StatusOK)
}

func (e *eventStream) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	e.write("data: " + string(b) + "\n\n")
}

func (e *eventStream) done() { e.write("data: [DONE]\n\n") }

func (e *eventStream) write(s string) {
	e.start()
	if e.failed {
		return
	}
	if _, err := e.w.Write([]byte(s)); err != nil {
		e.failed = true
		return
	}
	if err := e.rc.Flush(); err != nil {
		e.failed = true
	}
}
