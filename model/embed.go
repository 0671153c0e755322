package model

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/kvcache"
)

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
	return e.embedTokens(ctx, e.templateTokens(cm, nil, false))
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
	if over := len(tokens) - e.ctxSize; over > 0 {
		tokens = tokens[over:]
	}
	ids := make([]int, len(tokens))
	for i, t := range tokens {
		ids[i] = int(t)
	}
	em := &e.embed
	em.mu.Lock()
	defer em.mu.Unlock()
	if em.cache == nil {
		c, err := e.model.NewCache(e.ctxSize)
		if err != nil {
			return nil, fmt.Errorf("model: embed: %w", err)
		}
		em.cache = c
	}
	return em.run(ctx, e, ids)
}

// embedder holds the cache of Embed and EmbedMessages, separate from
// Generate's and Logits' so that each keeps its prefix.
type embedder struct {
	mu    sync.Mutex     // one embedding at a time; its passes also take Engine.fwd
	cache *kvcache.Cache // made on first use
}

// run runs ids through e's model in the embedder's cache, reusing the
// prefix it holds, and returns the last token's final hidden state.
func (em *embedder) run(ctx context.Context, e *Engine, ids []int) ([]float32, error) {
	n := em.cache.CommonPrefix(ids)
	if n == len(ids) {
		n-- // the last token must run again to give its state
	}
	em.cache.Truncate(n)
	hidden := make([]float32, e.model.Config.Hidden)
	err := inChunks(ctx, ids[n:], hidden, func(chunk []int, hidden []float32) error {
		if err := e.fwd.lock(); err != nil {
			return err
		}
		err := e.model.ForwardBatch([]arch.Seq{{Tokens: chunk, Cache: em.cache, Hidden: hidden}})
		e.fwd.Unlock()
		if err != nil {
			em.cache.Truncate(0)
			return fmt.Errorf("model: embed: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hidden, nil
}
