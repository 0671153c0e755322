package model

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"weak"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/kvcache"
)

// errNoHidden is returned if the forward pass did not hand the final
// hidden state to the output matrix (the engine's forward pass changed in
// a way the embedder does not follow).
var errNoHidden = errors.New("model: the forward pass did not expose the final hidden state")

// EmbedDim is the length of the vectors Embed and EmbedMessages return:
// the model's hidden size.
func (e *Engine) EmbedDim() int { return e.model.Config.Hidden }

// EmbedMessages renders msgs followed by answer as the assistant's turn
// with the chat template, closed with the template's end-of-turn markup,
// runs it through the model without sampling, and returns the final hidden
// state of the last token: after the output norm, before the LM head.
//
// The last token is the end-of-turn markup, so under causal attention its
// state is the only one that has seen the whole prompt and the whole
// answer; it is what reward models built on decoder LLMs read (InstructGPT,
// TRL's sequence-classification heads). It also costs one forward pass in
// batches, where a mean over answer tokens would need every token's state.
//
// Control tokens are recognised in the template's markup only. When the
// text is longer than the context window its oldest tokens are dropped.
// The vectors come from a cache separate from Generate's, which keeps its
// prefix: scoring n answers to one prompt runs the prompt once.
func (e *Engine) EmbedMessages(ctx context.Context, msgs []Message, answer string) ([]float32, error) {
	cm := append(chatMessages(msgs), chat.Message{Role: "assistant", Content: answer})
	return e.embedTokens(ctx, e.templateTokens(cm, false))
}

// Embed returns the final hidden state (after the output norm, before the
// LM head) of the last token of text, tokenized as it is (with BOS when the
// model asks for it, special tokens recognised).
func (e *Engine) Embed(ctx context.Context, text string) ([]float32, error) {
	return e.embedTokens(ctx, e.Tokenize(text))
}

func (e *Engine) embedTokens(ctx context.Context, tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, errors.New("model: embed: empty text")
	}
	if e.sched.isClosed() {
		return nil, ErrClosed
	}
	em, err := embedderOf(e)
	if err != nil {
		return nil, err
	}
	if over := len(tokens) - e.ctxSize; over > 0 {
		tokens = tokens[over:]
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	ids := make([]int, len(tokens))
	for i, t := range tokens {
		ids[i] = int(t)
	}
	return em.run(ctx, ids)
}

// embedder runs the engine's weights through a second arch.Model whose
// kernels catch the input of the LM head (the normed hidden state of the
// last token) instead of multiplying it by the vocabulary.
type embedder struct {
	mu     sync.Mutex // one embedding at a time; its passes also take Engine.fwd
	fwd    *forwardGate
	model  *arch.Model
	cache  *kvcache.Cache
	kern   *captureKernels
	logits []float32 // never written: the LM head is skipped
}

// captureKernels passes every product to the engine's kernels except the
// one with the output matrix, whose input it keeps.
type captureKernels struct {
	inner  arch.Kernels
	output *arch.Matrix
	hidden []float32
}

func (c *captureKernels) MatMul(ws []*arch.Matrix, xs [][]float32, ys [][][]float32) error {
	if len(ws) == 1 && ws[0] == c.output {
		if len(xs) != 1 {
			return errNoHidden
		}
		c.hidden = append(c.hidden[:0], xs[0]...)
		return nil
	}
	return c.inner.MatMul(ws, xs, ys)
}

func (c *captureKernels) Dequantize(t ggml.Type, src []byte, dst []float32) error {
	return c.inner.Dequantize(t, src, dst)
}

func (c *captureKernels) Parallel(n, chunk int, fn func(i int)) error {
	return c.inner.Parallel(n, chunk, fn)
}

// embedders holds each engine's embedder, made on first use. It lives
// beside Engine rather than in it so that embedding stays an addition to
// the engine; an entry goes when its engine is collected.
var embedders = struct {
	sync.Mutex
	m map[weak.Pointer[Engine]]*embedder
}{m: map[weak.Pointer[Engine]]*embedder{}}

// embedderOf returns e's embedder, made on first use.
func embedderOf(e *Engine) (*embedder, error) {
	key := weak.Make(e)
	embedders.Lock()
	defer embedders.Unlock()
	if em := embedders.m[key]; em != nil {
		return em, nil
	}
	em, err := newEmbedder(e)
	if err != nil {
		return nil, err
	}
	embedders.m[key] = em
	runtime.AddCleanup(e, func(k weak.Pointer[Engine]) {
		embedders.Lock()
		delete(embedders.m, k)
		embedders.Unlock()
	}, key)
	return em, nil
}

func newEmbedder(e *Engine) (*embedder, error) {
	k := &captureKernels{inner: e.kern}
	m, err := arch.New(e.model.Config, e.model.W, k, e.threads)
	if err != nil {
		return nil, fmt.Errorf("model: embed: %w", err)
	}
	k.output = &m.W.Output
	cache, err := m.NewCache(e.ctxSize)
	if err != nil {
		return nil, fmt.Errorf("model: embed: %w", err)
	}
	return &embedder{fwd: e.fwd, model: m, cache: cache, kern: k, logits: make([]float32, m.Config.Vocab)}, nil
}

func (em *embedder) run(ctx context.Context, ids []int) ([]float32, error) {
	n := em.cache.CommonPrefix(ids)
	if n == len(ids) {
		n-- // the last token must run again to give its state
	}
	em.cache.Truncate(n)
	em.kern.hidden = em.kern.hidden[:0]
	err := inChunks(ctx, ids[n:], em.logits, func(chunk []int, logits []float32) error {
		if err := em.fwd.lock(); err != nil {
			return err
		}
		err := em.model.Forward(chunk, em.cache, logits)
		em.fwd.Unlock()
		if err != nil {
			em.cache.Truncate(0)
			return fmt.Errorf("model: embed: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(em.kern.hidden) != em.model.Config.Hidden {
		em.cache.Truncate(0)
		return nil, errNoHidden
	}
	return append([]float32(nil), em.kern.hidden...), nil
}
