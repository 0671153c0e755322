// Package model is chatloop's local language model engine: it loads a GGUF
// file (memory-mapped), runs the qwen2, qwen3 or llama forward pass on the
// CPU with llama.cpp's arithmetic, samples, applies the chat template, and
// streams the answer. Engine.Generate satisfies the core's generator
// interface through a small bridge in cmd/chatloop.
package model

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/kvcache"
	"github.com/chatloop/chatloop/model/sample"
	"github.com/chatloop/chatloop/model/tokenizer"
)

// ErrContextFull is returned (wrapped) when a prompt does not fit in the
// context window. The core trims history to stay under it.
var ErrContextFull = errors.New("context window full")

// ErrUnsupported is returned (wrapped) for an architecture or tensor type
// the engine does not run; the message lists the supported ones.
var ErrUnsupported = arch.ErrUnsupported

// Options configure Load.
type Options struct {
	// Threads for the matrix kernels; 0 means one per core.
	Threads int
	// Context is the context window in tokens; 0 means the model's own
	// length, capped at DefaultContext.
	Context int
	// Template overrides the chat template recognised from the file:
	// "chatml" or "llama3".
	Template string
	// Log receives load and generation statistics; nil discards them.
	Log *slog.Logger
}

// DefaultContext caps the context window when Options.Context is 0, to
// keep the key/value cache small.
const DefaultContext = 4096

// promptBatch is how many prompt tokens go through the model together.
const promptBatch = 256

// Message is one role/content message of a conversation.
type Message struct {
	Role    string
	Content string
}

// SamplingParams are the sampling parameters; the zero value is greedy.
type SamplingParams = sample.Params

// Request asks for one answer.
type Request struct {
	// Messages are rendered with the chat template.
	Messages []Message
	// Raw, if set, is fed as it is, without the template (special tokens
	// in it are recognised).
	Raw string
	// MaxTokens caps the answer; 0 means until the context is full.
	MaxTokens int
	Sampling  SamplingParams
	// Stop lists extra stop strings, besides the template's and the
	// end-of-generation tokens.
	Stop []string
}

// Stop reasons of a Result.
const (
	StopEOG       = "eog"       // an end-of-generation token
	StopString    = "stop"      // a stop string
	StopLength    = "length"    // MaxTokens reached
	StopContext   = "context"   // the context window is full
	StopCancelled = "cancelled" // ctx was cancelled
)

// Result is a finished answer.
type Result struct {
	Text                       string
	PromptTokens, AnswerTokens int
	StopReason                 string
	// Truncated is true when the answer was cut short (length, context,
	// cancelled).
	Truncated                   bool
	PromptDuration, GenDuration time.Duration
	// CachedTokens is how many prompt tokens were reused from the
	// previous request.
	CachedTokens int
}

// Engine is a loaded model. Generate is safe for concurrent use; calls are
// served one at a time.
type Engine struct {
	log      *slog.Logger
	path     string
	file     *gguf.File
	model    *arch.Model
	tok      *tokenizer.Tokenizer
	tmpl     chat.Template
	kern     *kernels
	info     Info
	threads  int
	ctxSize  int
	loadTime time.Duration

	hash *fileHash

	mu     sync.Mutex // serializes Generate and guards cache
	cache  *kvcache.Cache
	logits []float32
	closed bool
}

// Load opens the GGUF file at path and prepares the model. The weights
// are memory-mapped, not read: loading is quick and the resident memory
// grows as the weights are touched.
func Load(path string, opts Options) (*Engine, error) {
	start := time.Now()
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	e, err := newEngine(f, path, opts, threads, log)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	e.loadTime = time.Since(start)
	e.hash = hashFile(path)
	log.Info("model loaded", "file", path, "arch", e.info.Arch, "params", e.info.Params,
		"quantization", e.info.Quantization, "context", e.ctxSize, "threads", threads, "took", e.loadTime.Round(time.Millisecond))
	return e, nil
}

func newEngine(f *gguf.File, path string, opts Options, threads int, log *slog.Logger) (*Engine, error) {
	cfg, w, err := readModel(f)
	if err != nil {
		return nil, err
	}
	tok, err := newTokenizer(f)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() != cfg.Vocab {
		return nil, fmt.Errorf("%w: the tokenizer has %d tokens, token_embd %d rows", arch.ErrBadModel, tok.VocabSize(), cfg.Vocab)
	}
	tmpl, warning, err := pickTemplate(f, opts.Template)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		log.Warn("chat template", "problem", warning)
	}
	k := newKernels(threads)
	m, err := arch.New(cfg, w, k, threads)
	if err != nil {
		k.close()
		return nil, err
	}
	size := opts.Context
	if size <= 0 {
		size = min(cfg.ContextLength, DefaultContext)
		if size <= 0 {
			size = DefaultContext
		}
	}
	cache, err := m.NewCache(size)
	if err != nil {
		k.close()
		return nil, err
	}
	e := &Engine{
		log: log, path: path, file: f, model: m, tok: tok, tmpl: tmpl, kern: k,
		threads: threads, ctxSize: size, cache: cache, logits: make([]float32, cfg.Vocab),
	}
	e.info = describe(f, cfg, tmpl, tok)
	return e, nil
}

// Close releases the model's memory. Generate must not be running.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.hash.cancel()
	e.kern.close()
	return e.file.Close()
}

// ContextSize is the context window in tokens.
func (e *Engine) ContextSize() int { return e.ctxSize }

// LoadDuration is how long Load took.
func (e *Engine) LoadDuration() time.Duration { return e.loadTime }

// Tokenizer returns the model's tokenizer.
func (e *Engine) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// CountTokens counts the tokens of text with the model's tokenizer.
func (e *Engine) CountTokens(text string) int { return e.tok.CountTokens(text) }

// Prompt renders a request to the text the model is fed.
func (e *Engine) Prompt(req Request) string {
	if req.Raw != "" {
		return req.Raw
	}
	msgs := make([]chat.Message, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = chat.Message{Role: m.Role, Content: m.Content}
	}
	return e.tmpl.Render(msgs, true)
}

// Tokenize turns a prompt into tokens, adding BOS when the model's
// metadata asks for it and recognising special tokens.
func (e *Engine) Tokenize(prompt string) []int32 {
	return e.tok.Tokenize(prompt, true, true)
}

// Generate writes the answer to req, calling onToken with each piece of
// text as soon as it is certain (never part of a stop string, never half a
// UTF-8 character). It stops at an end-of-generation token, a stop string,
// MaxTokens, a full context (StopContext, Truncated) or when ctx is done
// (StopCancelled, with ctx's error). A prompt that does not fit returns
// ErrContextFull.
func (e *Engine) Generate(ctx context.Context, req Request, onToken func(string)) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Result{}, errors.New("model: engine is closed")
	}
	prompt := e.Tokenize(e.Prompt(req))
	return e.generate(ctx, prompt, req, onToken)
}

// GenerateTokens is Generate for an already tokenized prompt.
func (e *Engine) GenerateTokens(ctx context.Context, prompt []int32, req Request, onToken func(string)) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Result{}, errors.New("model: engine is closed")
	}
	return e.generate(ctx, prompt, req, onToken)
}

func (e *Engine) generate(ctx context.Context, prompt32 []int32, req Request, onToken func(string)) (Result, error) {
	res := Result{PromptTokens: len(prompt32)}
	if len(prompt32) == 0 {
		return res, errors.New("model: empty prompt")
	}
	if len(prompt32) >= e.ctxSize {
		return res, fmt.Errorf("%w: the prompt has %d tokens and the context window %d", ErrContextFull, len(prompt32), e.ctxSize)
	}
	prompt := make([]int, len(prompt32))
	for i, t := range prompt32 {
		prompt[i] = int(t)
	}
	if err := ctx.Err(); err != nil {
		res.StopReason, res.Truncated = StopCancelled, true
		return res, err
	}
	start := time.Now()
	if err := e.prefill(ctx, prompt, &res); err != nil {
		res.PromptDuration = time.Since(start)
		if ctx.Err() != nil {
			res.StopReason, res.Truncated = StopCancelled, true
			return res, ctx.Err()
		}
		return res, err
	}
	res.PromptDuration = time.Since(start)

	start = time.Now()
	defer func() { res.GenDuration = time.Since(start) }()
	smp := sample.New(req.Sampling)
	dec := e.tok.NewDecoder()
	st := &stopper{stops: append(e.tmplStops(req), req.Stop...)}
	var text strings.Builder
	emit := func(s string) {
		if s != "" {
			text.WriteString(s)
			if onToken != nil {
				onToken(s)
			}
		}
	}
	history := append([]int(nil), prompt...)
	finish := func(reason string) (Result, error) {
		if reason != StopString {
			out, _ := st.push(dec.Flush())
			emit(out)
			emit(st.flush())
		}
		res.StopReason = reason
		res.Truncated = reason == StopLength || reason == StopContext || reason == StopCancelled
		res.Text = text.String()
		res.GenDuration = time.Since(start)
		return res, nil
	}
	for {
		next := smp.Sample(e.logits, history)
		if e.tok.IsEOG(int32(next)) {
			return finish(StopEOG)
		}
		res.AnswerTokens++
		history = append(history, next)
		out, stopped := st.push(dec.Next(int32(next)))
		emit(out)
		if stopped {
			return finish(StopString)
		}
		if req.MaxTokens > 0 && res.AnswerTokens >= req.MaxTokens {
			return finish(StopLength)
		}
		if err := ctx.Err(); err != nil {
			r, _ := finish(StopCancelled)
			return r, err
		}
		if e.cache.Room(1) != nil {
			return finish(StopContext)
		}
		if err := e.model.Forward([]int{next}, e.cache, e.logits); err != nil {
			e.cache.Truncate(0)
			return res, fmt.Errorf("model: %w", err)
		}
	}
}

// prefill runs the prompt through the model, reusing the cached prefix it
// shares with the previous request, and leaves the last token's logits in
// e.logits.
func (e *Engine) prefill(ctx context.Context, prompt []int, res *Result) error {
	n := e.cache.CommonPrefix(prompt)
	if n == len(prompt) {
		n-- // the last token must run again to give its logits
	}
	e.cache.Truncate(n)
	res.CachedTokens = n
	for n < len(prompt) {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(n+promptBatch, len(prompt))
		var logits []float32
		if end == len(prompt) {
			logits = e.logits
		}
		if err := e.model.Forward(prompt[n:end], e.cache, logits); err != nil {
			e.cache.Truncate(0)
			if errors.Is(err, kvcache.ErrFull) {
				return fmt.Errorf("%w: %w", ErrContextFull, err)
			}
			return fmt.Errorf("model: %w", err)
		}
		n = end
	}
	return nil
}

func (e *Engine) tmplStops(req Request) []string {
	if req.Raw != "" {
		return nil
	}
	return e.tmpl.StopStrings()
}

// Logits runs prompt from an empty cache and returns the logits of its
// last token (for tests and reference comparisons).
func (e *Engine) Logits(prompt []int32) ([]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cache.Truncate(0)
	ids := make([]int, len(prompt))
	for i, t := range prompt {
		ids[i] = int(t)
	}
	var res Result
	if err := e.prefill(context.Background(), ids, &res); err != nil {
		return nil, err
	}
	return append([]float32(nil), e.logits...), nil
}

// kernels adapts model/ggml's pool to arch.Kernels. It is used by one
// Generate at a time.
type kernels struct {
	pool *ggml.Pool
	acts map[ggml.Type][]*ggml.Activation // by vec_dot type
}

func newKernels(threads int) *kernels {
	return &kernels{pool: ggml.NewPool(threads), acts: map[ggml.Type][]*ggml.Activation{}}
}

func (k *kernels) MatMul(ws []*arch.Matrix, xs [][]float32, ys [][][]float32) error {
	var prepared [3]ggml.Type
	np := 0
	for j, w := range ws {
		vt, ok := ggml.VecDotType(w.Type)
		if !ok {
			return fmt.Errorf("%w: no kernel for %s", ErrUnsupported, w.Type)
		}
		acts := k.acts[vt]
		for len(acts) < len(xs) {
			acts = append(acts, new(ggml.Activation))
		}
		k.acts[vt] = acts
		acts = acts[:len(xs)]
		done := false
		for _, p := range prepared[:np] {
			done = done || p == vt
		}
		if !done {
			for i, x := range xs {
				acts[i].Prepare(x, w.Type)
			}
			if np < len(prepared) {
				prepared[np] = vt
				np++
			}
		}
		if err := k.pool.MatMul(w.Type, w.Data, w.Rows, w.Cols, acts, ys[j]); err != nil {
			return err
		}
	}
	return nil
}

func (k *kernels) Dequantize(t ggml.Type, src []byte, dst []float32) error {
	return ggml.Dequantize(t, src, dst)
}

func (k *kernels) Parallel(n, chunk int, fn func(i int)) error {
	return k.pool.Parallel(n, chunk, fn)
}

func (k *kernels) close() { k.pool.Close() }
