package model

import (
	"context"
	"errors"
	"fmt"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/kvcache"
	"github.com/chatloop/chatloop/model/lora"
)

// Decoder runs one sequence through the engine's forward pass a few
// tokens at a time, in a key/value cache of its own, with an optional
// LoRA adapter held in memory (not read from a file) applied as the side
// path, as the engine applies its own adapters. It is for callers that
// choose every next token themselves, such as the online round's sampler,
// whose adapter changes after every round: each token costs one pass over
// the new token only, not over the whole sequence again.
//
// A Decoder is not safe for concurrent use; its passes take turns with
// the engine's other work (Generate's steps, Logits, Embed). It must not
// be used after the engine is closed (its calls then return ErrClosed).
type Decoder struct {
	e      *Engine
	cache  *kvcache.Cache
	lora   arch.LowRank // nil: the base alone
	logits []float32
}

// NewDecoder returns a decoder of up to size positions (0, or more than
// the engine's context window: the context window) that serves the base
// with ad at scale, or the base alone when ad is nil; the engine's own
// adapters (Options.Adapters) are not applied. ad must fit the base (its
// architecture, tensor names and shapes, as lora.Adapter.Check says) and
// must not change while the decoder is in use.
func (e *Engine) NewDecoder(ad *lora.Adapter, scale float32, size int) (*Decoder, error) {
	if e.sched.isClosed() {
		return nil, ErrClosed
	}
	if e.merged {
		return nil, fmt.Errorf("%w: the engine's adapters are merged into its weights, so a decoder cannot serve the base without them", ErrAdapter)
	}
	if size <= 0 || size > e.ctxSize {
		size = e.ctxSize
	}
	d := &Decoder{e: e, logits: make([]float32, e.model.Config.Vocab)}
	if ad != nil {
		if err := checkMemoryAdapter(e, ad, scale); err != nil {
			return nil, err
		}
		who := ad.ShortName()
		set, err := newLoRASet(e.model, !e.untied, []*lora.Adapter{ad}, []AdapterInfo{{Path: who, Short: who, Scale: scale}}, e.kern)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAdapter, err)
		}
		d.lora = set
	}
	c, err := e.model.NewCache(size)
	if err != nil {
		return nil, fmt.Errorf("model: decoder: %w", err)
	}
	d.cache = c
	return d, nil
}

// checkMemoryAdapter checks an adapter that did not come from lora.Read:
// its fit to the base, the matrices it adapts, and its pairs' sizes.
func checkMemoryAdapter(e *Engine, ad *lora.Adapter, scale float32) error {
	if !finite32(scale) {
		return fmt.Errorf("%w: scale %v is not a finite number", ErrAdapter, scale)
	}
	if len(ad.Pairs) == 0 {
		return fmt.Errorf("%w: the adapter has no pairs", ErrAdapter)
	}
	if err := ad.Check(e.AdapterShapes()); err != nil {
		return err
	}
	served := weightsByName(&e.model.W, &e.model.Config.Family.Tensors, !e.untied)
	for _, p := range ad.Pairs {
		if served[p.Name] == nil {
			return fmt.Errorf("%w: the adapter adapts %s: chatloop serves adapters of the attention and MLP projections (and of an untied output) only", ErrAdapter, p.Name)
		}
		if p.Rank < 1 || len(p.A) != p.Rank*p.In || len(p.B) != p.Out*p.Rank {
			return fmt.Errorf("%w: %s: rank %d with %d values in A and %d in B (want %d and %d)", ErrAdapter, p.Name, p.Rank, len(p.A), len(p.B), p.Rank*p.In, p.Out*p.Rank)
		}
		if !finite32(ad.Alpha) {
			return fmt.Errorf("%w: alpha %v is not a finite number", ErrAdapter, ad.Alpha)
		}
	}
	return nil
}

// Len is the number of positions the decoder holds.
func (d *Decoder) Len() int { return d.cache.Len() }

// Truncate forgets every position from n on, so that another
// continuation of the first n tokens (a prompt) can be decoded without
// running them again.
func (d *Decoder) Truncate(n int) { d.cache.Truncate(n) }

// Append runs tokens after the positions held and returns the logits of
// the last of them (Vocab elements, valid until the next call). On error
// (a full cache wraps ErrContextFull, a token outside the vocabulary, ctx
// done between chunks) the decoder holds what it held before.
func (d *Decoder) Append(ctx context.Context, tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, errors.New("model: decoder: no tokens")
	}
	ids := make([]int, len(tokens))
	for i, t := range tokens {
		if t < 0 || int(t) >= d.e.model.Config.Vocab {
			return nil, fmt.Errorf("model: decoder: token %d is outside the vocabulary of %d", t, d.e.model.Config.Vocab)
		}
		ids[i] = int(t)
	}
	if err := d.cache.Room(len(ids)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrContextFull, err)
	}
	held := d.cache.Len()
	err := inChunks(ctx, ids, d.logits, func(chunk []int, logits []float32) error {
		if err := d.e.fwd.lock(); err != nil {
			return err
		}
		defer d.e.fwd.Unlock()
		return d.e.model.ForwardBatch([]arch.Seq{{Tokens: chunk, Cache: d.cache, Logits: logits, LoRA: d.lora}})
	})
	if err != nil {
		d.cache.Truncate(held)
		if errors.Is(err, kvcache.ErrFull) {
			return nil, fmt.Errorf("%w: %w", ErrContextFull, err)
		}
		return nil, fmt.Errorf("model: decoder: %w", err)
	}
	return d.logits, nil
}
