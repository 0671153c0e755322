// Package model is chatloop's local language model engine: it loads a GGUF
// file (memory-mapped), runs the qwen2, qwen3 or llama forward pass on the
// CPU with llama.cpp's arithmetic, samples, applies the chat template, and
// streams the answer. Engine.Generate satisfies the core's generator
// interface through a small bridge in cmd/chatloop.
//
// Concurrent Generate calls are served by one scheduler goroutine
// (sched.go) that advances every active request in one batched forward
// pass per step, and keeps the key/value caches of finished requests in a
// pool bounded by memory (prefix.go), so that a conversation's next turn
// only processes its new tokens.
package model

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/kvcache"
	"github.com/chatloop/chatloop/model/lora"
	"github.com/chatloop/chatloop/model/sample"
	"github.com/chatloop/chatloop/model/tokenizer"
)

// ErrContextFull is returned (wrapped) when a prompt does not fit in the
// context window. The core trims history to stay under it.
var ErrContextFull = errors.New("context window full")

// ErrUnsupported is returned (wrapped) for an architecture or tensor type
// the engine does not run; the message lists the supported ones.
var ErrUnsupported = arch.ErrUnsupported

// ErrClosed is returned (wrapped) by an engine that has been closed,
// including to the Generate calls that were running when it was.
var ErrClosed = errors.New("model: engine is closed")

// Options configure Load.
type Options struct {
	// Threads for the matrix kernels; 0 means one per core.
	Threads int
	// Context is the context window in tokens; 0 means the model's own
	// length, capped at DefaultContext.
	Context int
	// Template overrides the chat template recognised from the file:
	// one of chat.Names ("chatml", "qwen2.5", "qwen3", "llama3", "llama3.1").
	Template string
	// Parallel is how many requests are decoded together, one pass over
	// the weights per step for all of them; more wait in FIFO order. 0
	// means DefaultParallel.
	Parallel int
	// PrefixCache bounds the memory, in bytes, that idle caches cost so
	// that a request sharing a prefix with an earlier one (a
	// conversation's next turn, a common system prompt) processes only
	// its new tokens: their whole heap footprint (pages, token lists,
	// page tables, as the allocator rounds them) times the garbage
	// collector's slack (1 + GOGC/100: an evicted cache stays on the heap
	// as garbage until the next collection), so with the default GOGC the
	// live caches take at most half of it. 0 means DefaultPrefixCache;
	// negative keeps none.
	PrefixCache int64
	// Repack says whether the weight matrices are rewritten at load. On
	// (the default, the zero value), every matrix whose type has a packed
	// layout on this CPU is rewritten once, outside the Go heap, in that
	// layout (rows interleaved for a faster kernel, as llama.cpp's CPU
	// backend repacks; the results are the same bit for bit), and the
	// file's pages of those matrices are released, so that memory holds
	// one copy. RepackOff keeps the file's layout (llama.cpp's
	// --no-repack).
	Repack Repack
	// PackCache keeps the repacked weights in a file beside the model
	// ("<model>.chatloop-packed", or in PackCacheDir when the model's
	// folder is not writable), written in the background after the first
	// load, so that later loads map them instead of repacking. A cache is
	// keyed by the packed layouts' version, this CPU's features and the
	// model file's size, time and SHA-256; one that does not match is
	// refused and rewritten. Close waits for a write still in progress
	// (at most packCacheCloseWait), so that a process that answers one
	// question and exits leaves the cache behind.
	PackCache bool
	// PackCacheDir is the pack cache's folder when the model's is not
	// writable; "" means the user's cache folder (chatloop/packed).
	PackCacheDir string
	// Adapters are LoRA adapters (llama.cpp's GGUF format) served with
	// the model; see adapters.go. An adapter made for another base is
	// refused, naming both.
	Adapters []Adapter
	// MergeAdapters adds the adapters into the weights at load instead of
	// applying them beside the weights at every token.
	MergeAdapters bool
	// Log receives load and generation statistics; nil discards them.
	Log *slog.Logger
	// Constrain, when set, may change a request's logits before each of
	// its tokens is sampled: a constraint on what the model may write (a
	// grammar), or a decoding forced at the engine's boundary, as tests of
	// tool calling do. answer holds the tokens generated so far. Calls for
	// different requests may run concurrently.
	Constrain func(prompt, answer []int, logits []float32)
}

// DefaultContext caps the context window when Options.Context is 0, to
// keep the key/value cache small.
const DefaultContext = 4096

// DefaultParallel is Options.Parallel's default.
const DefaultParallel = 4

// DefaultPrefixCache is Options.PrefixCache's default: 512 MiB.
const DefaultPrefixCache = 512 << 20

// promptBatch is how many prompt tokens go through the model together
// when no other request is decoding.
const promptBatch = 256

// Message is one role/content message of a conversation.
type Message = chat.Message

// Repack is Options.Repack: whether Load rewrites weight matrices in this
// CPU's packed layouts.
type Repack int8

const (
	// RepackDefault, the zero value, repacks: the same as RepackOn.
	RepackDefault Repack = iota
	// RepackOn rewrites every matrix whose type has a packed layout.
	RepackOn
	// RepackOff keeps the file's layout (llama.cpp's --no-repack).
	RepackOff
)

// RepackIf is RepackOn when on, else RepackOff: a configuration's
// "repack = true/false".
func RepackIf(on bool) Repack {
	if on {
		return RepackOn
	}
	return RepackOff
}

// On reports whether matrices are repacked.
func (r Repack) On() bool { return r != RepackOff }

// SamplingParams are the sampling parameters; the zero value is greedy.
type SamplingParams = sample.Params

// Request asks for one answer.
type Request struct {
	// Messages are rendered with the chat template. Special tokens are
	// recognised only in the template's own markup, never in the
	// messages' content.
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
	// Base answers with the base model alone, without the engine's LoRA
	// adapters (an A/B between versions in one process).
	Base bool
	// Adapters chooses which of the engine's adapters answer, each named
	// by its short name (AdapterInfo.Short), its file's base name or its
	// path; empty means all of them. Both Base and Adapters need the side
	// path: with merged adapters a request gets them all.
	Adapters []string
	// Tools are offered to the model in its template's tool-calling form
	// (chat.Template.ToolParts), which also renders Messages' tool calls
	// and tool results. The answer's text holds the calls as the model
	// wrote them: read them with chat.NewToolCallParser(ToolCallFormat()).
	Tools []chat.Tool
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
	Truncated bool
	// PromptDuration runs from the request's turn to be served (after
	// waiting for a free slot) to its first token; GenDuration from there
	// to the end.
	PromptDuration, GenDuration time.Duration
	// CachedTokens is how many prompt tokens were reused from the key/value
	// cache of an earlier request instead of being processed.
	CachedTokens int
}

// Engine is a loaded model. Generate is safe for concurrent use: one
// scheduler goroutine advances up to Options.Parallel requests together,
// and keeps the caches of finished ones for prefix reuse.
type Engine struct {
	log      *slog.Logger
	path     string
	file     *gguf.File
	model    *arch.Model
	tok      *tokenizer.Tokenizer
	tmpl     chat.Template
	kern     *kernels
	packed   *packedWeights // nil when nothing was repacked
	info     Info
	threads  int
	ctxSize  int
	loadTime time.Duration

	hash *fileHash

	constrain func(prompt, answer []int, logits []float32) // Options.Constrain

	// adapters identify the LoRA adapters served; lora applies them as a
	// side path (nil when merged or when there are none).
	adapters []AdapterInfo
	lora     arch.LowRank
	ads      []*lora.Adapter
	untied   bool
	merged   bool
	setsMu   sync.Mutex
	sets     map[string]*loraSet // side paths of subsets of the adapters, by key

	// fwd serializes forward passes: the scheduler's steps, Logits, Bench
	// and the embedder share the kernels' buffers.
	fwd *forwardGate
	// cache and logits are Logits' and Bench's, made on first use; fwd
	// guards them.
	cache  *kvcache.Cache
	logits []float32
	// embed is Embed's and EmbedMessages' (embed.go).
	embed embedder

	sched *scheduler
}

// Load opens the GGUF file at path and prepares the model. The weights
// are memory-mapped, not read; those with a packed layout on this CPU
// are then rewritten once in it, outside the Go heap, and their file
// pages released (see Options.Repack), so resident memory holds the
// weights once either way.
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
	if e.packed != nil && e.packed.cache != nil {
		e.keepPackCache()
	}
	log.Info("model loaded", "file", path, "adapters", adapterSuffix(e.adapters), "arch", e.info.Arch, "params", e.info.Params,
		"quantization", e.info.Quantization, "context", e.ctxSize, "threads", threads,
		"parallel", e.sched.parallel, "prefix_cache_bytes", e.sched.pool.budget, "repacked_bytes", e.info.RepackedBytes,
		"took", e.loadTime.Round(time.Millisecond))
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
	tmpl, warning, err := pickTemplate(f, cfg.Family, opts.Template)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		log.Warn("chat template", "problem", warning)
	}
	if opts.Parallel < 0 {
		return nil, fmt.Errorf("parallel %d is negative", opts.Parallel)
	}
	_, untied := f.Tensor(cfg.Family.Tensors.Output)
	ads, adInfos, err := readAdapters(f, path, opts.Adapters, weightsByName(&w, &cfg.Family.Tensors, !untied))
	if err != nil {
		return nil, err
	}
	k := newKernels(threads)
	var packed *packedWeights
	fail := func(err error) (*Engine, error) {
		k.close()
		if rerr := packed.release(); rerr != nil {
			log.Warn("model: load failed", "err", rerr)
		}
		return nil, err
	}
	if len(ads) > 0 && opts.MergeAdapters {
		took, err := mergeAdapters(&w, &cfg.Family.Tensors, !untied, ads, adInfos, k)
		if err != nil {
			return fail(err)
		}
		log.Debug("adapters merged into the weights", "adapters", adapterSuffix(adInfos), "took", took.Round(time.Millisecond))
	}
	if opts.Repack.On() {
		var cache *packCache
		// Merged weights are not the file's: a pack cache keyed by the
		// file would hand them to a later load without the adapters.
		if opts.PackCache && !(len(ads) > 0 && opts.MergeAdapters) {
			cache = newPackCache(path, opts.PackCacheDir)
		}
		if packed, err = repack(f, &w, &cfg.Family.Tensors, k.pool, cache, log); err != nil {
			return fail(err)
		}
	}
	m, err := arch.New(cfg, w, k, threads)
	if err != nil {
		return fail(err)
	}
	size := opts.Context
	if size <= 0 {
		size = min(cfg.ContextLength, DefaultContext)
		if size <= 0 {
			size = DefaultContext
		}
	}
	if _, err := m.NewCache(size); err != nil {
		return fail(err)
	}
	e := &Engine{
		log: log, path: path, file: f, model: m, tok: tok, tmpl: tmpl, kern: k, packed: packed, constrain: opts.Constrain,
		threads: threads, ctxSize: size, fwd: new(forwardGate),
	}
	e.info = describe(f, cfg, tmpl, tok)
	e.info.Context = size
	if st, err := os.Stat(path); err == nil {
		e.info.FileSize = st.Size()
	}
	e.adapters, e.info.Adapters = adInfos, adInfos
	e.ads, e.untied, e.merged = ads, untied, opts.MergeAdapters && len(ads) > 0
	if len(ads) > 0 && !opts.MergeAdapters {
		set, err := newLoRASet(m, !untied, ads, adInfos, k)
		if err != nil {
			return fail(err)
		}
		e.lora = set
	}
	if e.merged && packed != nil {
		// The merged matrices were copied into the packed mapping: give
		// their heap copies back to the system now rather than at the
		// collector's leisure.
		debug.FreeOSMemory()
	}
	e.info.Kernels = k.pool.Kernels().Name()
	if packed == nil {
		// The set's matrix kernels on the file's layout.
		e.info.Kernels = strings.TrimSuffix(e.info.Kernels, " packed")
	}
	if packed != nil {
		e.info.RepackedBytes, e.info.RepackedMatrices = packed.bytes, packed.matrices
		if packed.fromCache {
			e.info.PackCache = packed.cache.hit
		}
		log.Debug("weights repacked", "matrices", packed.matrices, "bytes", packed.bytes, "took", packed.took.Round(time.Millisecond))
	}
	parallel := opts.Parallel
	if parallel == 0 {
		parallel = DefaultParallel
	}
	budget := opts.PrefixCache
	switch {
	case budget == 0:
		budget = DefaultPrefixCache
	case budget < 0:
		budget = 0
	}
	e.sched = newScheduler(e, parallel, budget)
	go e.sched.loop()
	return e, nil
}

// packCacheCloseWait bounds how long Close waits for a pack cache being
// written (a 0.5B Q8_0 model's takes about 3 s: its SHA-256, then 500 MB).
const packCacheCloseWait = 30 * time.Second

// Close stops the scheduler and releases the model's memory. Generate
// calls still running return ErrClosed (with the text so far); later
// calls return it at once.
func (e *Engine) Close() error {
	if !e.sched.close() {
		return nil
	}
	e.fwd.Lock() // wait for a Logits, Bench or Embed in progress
	defer e.fwd.Unlock()
	e.fwd.closed = true
	e.packed.finishSave(packCacheCloseWait, e.log)
	e.hash.cancel()
	e.kern.close()
	err := e.packed.release()
	return errors.Join(err, e.file.Close())
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
	return chat.RenderTools(e.tmpl, req.Messages, req.Tools, true)
}

// ToolCallFormat is how the model's family writes tool calls.
func (e *Engine) ToolCallFormat() chat.ToolCallFormat { return e.tmpl.ToolCallFormat() }

// chatMessages copies ms, for a caller that appends to it.
func chatMessages(ms []Message) []chat.Message { return slices.Clone(ms) }

// Tokenize turns a prompt into tokens, adding BOS when the model's
// metadata asks for it and recognising special tokens.
func (e *Engine) Tokenize(prompt string) []int32 {
	return e.tok.Tokenize(prompt, true, true)
}

// PromptTokens returns the tokens Generate feeds the model for req: Raw
// as Tokenize does; messages through the chat template, with special
// tokens recognised only in the template's markup, so that a user who
// writes "<|im_start|>system" gets those characters as text, not a turn
// of their own.
func (e *Engine) PromptTokens(req Request) []int32 {
	if req.Raw != "" {
		return e.Tokenize(req.Raw)
	}
	return e.templateTokens(req.Messages, req.Tools, true)
}

// templateTokens renders msgs with the chat template (and the assistant's
// opening when addAssistant) and tokenizes the result, recognising special
// tokens only in the template's own markup.
func (e *Engine) templateTokens(msgs []chat.Message, tools []chat.Tool, addAssistant bool) []int32 {
	cparts := e.tmpl.ToolParts(msgs, tools, addAssistant)
	parts := make([]tokenizer.Part, len(cparts))
	for i, p := range cparts {
		parts[i] = tokenizer.Part{Text: p.Text, Markup: p.Markup}
	}
	return e.tok.TokenizeParts(parts, true)
}

// Generate writes the answer to req, calling onToken with each piece of
// text as soon as it is certain (never part of a stop string, never half a
// UTF-8 character). It stops at an end-of-generation token, a stop string,
// MaxTokens, a full context (StopContext, Truncated) or when ctx is done
// (StopCancelled, with ctx's error). A prompt that does not fit returns
// ErrContextFull.
//
// Concurrent calls are decoded together; onToken is called on the
// caller's goroutine, and when the caller is slower than the model, the
// pieces produced meanwhile arrive joined in one call.
func (e *Engine) Generate(ctx context.Context, req Request, onToken func(string)) (Result, error) {
	if e.sched.isClosed() {
		return Result{}, ErrClosed
	}
	return e.generate(ctx, e.PromptTokens(req), req, onToken)
}

// GenerateTokens is Generate for an already tokenized prompt.
func (e *Engine) GenerateTokens(ctx context.Context, prompt []int32, req Request, onToken func(string)) (Result, error) {
	if e.sched.isClosed() {
		return Result{}, ErrClosed
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
	vocab := e.model.Config.Vocab
	prompt := make([]int, len(prompt32))
	for i, t := range prompt32 {
		if t < 0 || int(t) >= vocab {
			return res, fmt.Errorf("model: prompt token %d at %d is outside the vocabulary of %d", t, i, vocab)
		}
		prompt[i] = int(t)
	}
	if err := ctx.Err(); err != nil {
		res.StopReason, res.Truncated = StopCancelled, true
		return res, err
	}
	lr, key, err := e.loraFor(req)
	if err != nil {
		return res, err
	}
	j := e.newJob(ctx, prompt, req)
	j.lora, j.loraKey = lr, key
	if err := e.sched.submit(j); err != nil {
		return res, err
	}
	return j.wait(onToken)
}

func (e *Engine) tmplStops(req Request) []string {
	if req.Raw != "" {
		return nil
	}
	return e.tmpl.StopStrings()
}

// Logits runs prompt from an empty cache and returns the logits of its
// last token (for tests and reference comparisons). It waits for the
// scheduler's current step and holds up the next one.
func (e *Engine) Logits(prompt []int32) ([]float32, error) {
	if e.sched.isClosed() {
		return nil, ErrClosed
	}
	if err := e.fwd.lock(); err != nil {
		return nil, err
	}
	defer e.fwd.Unlock()
	if err := e.ownCache(); err != nil {
		return nil, err
	}
	e.cache.Truncate(0)
	ids := make([]int, len(prompt))
	for i, t := range prompt {
		if t < 0 || int(t) >= e.model.Config.Vocab {
			return nil, fmt.Errorf("model: token %d is outside the vocabulary of %d", t, e.model.Config.Vocab)
		}
		ids[i] = int(t)
	}
	if len(ids) == 0 {
		return nil, errors.New("model: empty prompt")
	}
	err := inChunks(context.Background(), ids, e.logits, func(chunk []int, logits []float32) error {
		return e.forward1(chunk, e.cache, logits)
	})
	if err != nil {
		e.cache.Truncate(0)
		if errors.Is(err, kvcache.ErrFull) {
			return nil, fmt.Errorf("%w: %w", ErrContextFull, err)
		}
		return nil, fmt.Errorf("model: %w", err)
	}
	return append([]float32(nil), e.logits...), nil
}

// forward1 runs one sequence with the engine's adapters; e.fwd is held.
func (e *Engine) forward1(tokens []int, c *kvcache.Cache, logits []float32) error {
	return e.model.ForwardBatch([]arch.Seq{{Tokens: tokens, Cache: c, Logits: logits, LoRA: e.lora}})
}

// Adapters identifies the LoRA adapters the engine serves, in the order
// given; none when it serves the base alone.
func (e *Engine) Adapters() []AdapterInfo { return append([]AdapterInfo(nil), e.adapters...) }

// inChunks runs ids through forward in chunks of at most promptBatch
// tokens, handing logits with the last chunk only (the previous chunks'
// logits are not wanted). It stops at the first error, or with ctx's
// error before a chunk when ctx is done.
func inChunks(ctx context.Context, ids []int, logits []float32, forward func(chunk []int, logits []float32) error) error {
	for n := 0; n < len(ids); {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(n+promptBatch, len(ids))
		var l []float32
		if end == len(ids) {
			l = logits
		}
		if err := forward(ids[n:end], l); err != nil {
			return err
		}
		n = end
	}
	return nil
}

// forwardGate lets one forward pass run at a time, and none once the
// engine is closed (its weights are unmapped then).
type forwardGate struct {
	sync.Mutex
	closed bool
}

// lock locks g, or returns ErrClosed.
func (g *forwardGate) lock() error {
	g.Lock()
	if g.closed {
		g.Unlock()
		return ErrClosed
	}
	return nil
}

// ownCache makes Logits' and Bench's cache on first use; e.fwd is held.
func (e *Engine) ownCache() error {
	if e.cache != nil {
		return nil
	}
	c, err := e.model.NewCache(e.ctxSize)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	e.cache, e.logits = c, make([]float32, e.model.Config.Vocab)
	return nil
}

// kernels adapts model/ggml's pool to arch.Kernels. It is used by one
// forward pass at a time (Engine.fwd).
type kernels struct {
	pool *ggml.Pool
	acts map[ggml.Type][]*ggml.Activation // by vec_dot type

	// The batch being converted by prepare on the pool's workers.
	prepXs   [][]float32
	prepActs []*ggml.Activation
	prepType ggml.Type
	prepare  func(i int) // made once, so that Parallel does not allocate
}

// parallelPrepare is the batch size from which activations are converted
// on all workers rather than on the calling goroutine.
const parallelPrepare = 8

func newKernels(threads int) *kernels {
	k := &kernels{pool: ggml.NewPool(threads), acts: map[ggml.Type][]*ggml.Activation{}}
	ks := k.pool.Kernels()
	k.prepare = func(i int) { ks.Prepare(k.prepActs[i], k.prepXs[i], k.prepType) }
	return k
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
			acts = append(acts, &ggml.Activation{Rounding: ggml.RoundRef})
		}
		k.acts[vt] = acts
		acts = acts[:len(xs)]
		done := false
		for _, p := range prepared[:np] {
			done = done || p == vt
		}
		if !done {
			if len(xs) >= parallelPrepare {
				k.prepXs, k.prepActs, k.prepType = xs, acts, w.Type
				err := k.pool.Parallel(len(xs), 1, k.prepare)
				k.prepXs, k.prepActs = nil, nil
				if err != nil {
					return err
				}
			} else {
				for i, x := range xs {
					k.pool.Kernels().Prepare(acts[i], x, w.Type)
				}
			}
			if np < len(prepared) {
				prepared[np] = vt
				np++
			}
		}
		var err error
		if w.Packed {
			err = k.pool.MatMulPacked(w.Type, w.Data, w.Rows, w.Cols, acts, ys[j])
		} else {
			err = k.pool.MatMul(w.Type, w.Data, w.Rows, w.Cols, acts, ys[j])
		}
		if err != nil {
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

func (k *kernels) Set() *ggml.Kernels { return k.pool.Kernels() }

func (k *kernels) close() { k.pool.Close() }
