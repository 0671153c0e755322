package model

import (
	"log/slog"
	"slices"

	"github.com/chatloop/chatloop/model/kvcache"
)

// takeOverSlack is how many tokens at the end of an idle cache's prompt a
// new prompt may differ in and still take the cache over as the same
// conversation's next turn: the template's generation prompt
// ("<|im_start|>assistant\n") can tokenize differently once the answer
// follows it (a newline merging with the answer's first characters).
const takeOverSlack = 4

// minCopy is the shortest shared prefix worth copying out of another
// request's cache: below it, running the tokens again costs about as much.
const minCopy = 16

// cachePool holds the key/value caches of the scheduler: those of running
// requests (busy) and those of finished ones kept for reuse (idle), whose
// heap footprint stays within budget, least recently used dropped first.
// It is used by the scheduler's goroutine only.
type cachePool struct {
	// budget bounds the idle caches' live footprint: the configured
	// prefix_cache_mb divided by the garbage collector's slack (see
	// liveBudget), so that live caches plus the garbage of evicted ones
	// stay within what was configured.
	budget   int64
	newCache func() (*kvcache.Cache, error)
	log      *slog.Logger
	idle     []pooled // least recently used first
	busy     []*kvcache.Cache
	// adapters is the adapter set (loraKey) each cache, idle or busy, was
	// computed with, when not the base alone: keys and values computed
	// with one set are of no use to a request with another.
	adapters map[*kvcache.Cache]string
}

// pooled is an idle cache and the length of the prompt it was made for.
type pooled struct {
	c      *kvcache.Cache
	prompt int
}

func newCachePool(budget int64, newCache func() (*kvcache.Cache, error), log *slog.Logger) *cachePool {
	return &cachePool{budget: liveBudget(budget, gcSlack()), newCache: newCache, log: log}
}

// acquire returns a cache for prompt and how many of its first tokens it
// already holds (at most len(prompt)-1: the last one must run again to
// give its logits).
//
// An idle cache is taken over when the new prompt contains the whole
// prompt it was made for (but for its last few tokens, see takeOverSlack):
// a conversation's next turn, or a regeneration.
// A shorter shared prefix (a common system prompt) is copied into a new
// cache, so that the cache it came from stays whole for its own
// conversation; so is a prefix shared with a running request.
//
// Only caches computed with the same adapter set (key) are reused.
func (p *cachePool) acquire(key string, prompt []int) (*kvcache.Cache, int, error) {
	best, bestN, takeOver := -1, 0, false
	for i, it := range p.idle {
		if p.adapters[it.c] != key {
			continue
		}
		n := it.c.CommonPrefix(prompt)
		whole := n >= it.prompt-takeOverSlack
		// The longest match; among equals, one to take over, then the
		// most recently used.
		if n > 0 && (n > bestN || n == bestN && (whole || !takeOver)) {
			best, bestN, takeOver = i, n, whole
		}
	}
	var src *kvcache.Cache
	n := 0
	if best >= 0 {
		src, n = p.idle[best].c, bestN
	}
	for _, c := range p.busy {
		if p.adapters[c] != key {
			continue
		}
		if m := c.CommonPrefix(prompt); m > n {
			src, n, takeOver = c, m, false
		}
	}
	use := min(n, len(prompt)-1)
	if takeOver {
		p.idle = slices.Delete(p.idle, best, best+1)
		src.Truncate(use)
		p.busy = append(p.busy, src)
		p.log.Debug("prefix cache: continuing a cache", "reused_tokens", use, "prompt_tokens", len(prompt))
		return src, use, nil
	}
	c, err := p.newCache()
	if err != nil {
		return nil, 0, err
	}
	if use >= minCopy {
		if err := c.CopyPrefix(src, use); err != nil {
			p.log.Debug("prefix cache: copy failed, starting afresh", "error", err)
			c.Truncate(0)
			use = 0
		} else {
			p.log.Debug("prefix cache: copied a shared prefix", "reused_tokens", use, "prompt_tokens", len(prompt))
		}
	} else {
		use = 0
	}
	p.busy = append(p.busy, c)
	if key != "" {
		if p.adapters == nil {
			p.adapters = map[*kvcache.Cache]string{}
		}
		p.adapters[c] = key
	}
	return c, use, nil
}

// release takes back a busy cache, made for a prompt of promptLen tokens.
// A reusable one joins the idle caches as the most recently used, and the
// least recently used ones go while the idle caches hold more than the
// budget; any other is freed.
func (p *cachePool) release(c *kvcache.Cache, reusable bool, promptLen int) {
	if i := slices.Index(p.busy, c); i >= 0 {
		p.busy = slices.Delete(p.busy, i, i+1)
	}
	if !reusable || c.Len() == 0 || cacheFootprint(c) > p.budget {
		delete(p.adapters, c)
		c.Release()
		return
	}
	p.idle = append(p.idle, pooled{c, min(promptLen, c.Len())})
	p.dropSuperseded(c, promptLen)
	total := p.idleBytes()
	for total > p.budget && len(p.idle) > 0 {
		old := p.idle[0].c
		total -= cacheFootprint(old)
		p.log.Debug("prefix cache: evicted the least recently used cache", "tokens", old.Len(), "bytes", cacheFootprint(old), "idle_bytes", total, "budget", p.budget)
		delete(p.adapters, old)
		old.Release()
		p.idle = slices.Delete(p.idle, 0, 1)
	}
}

func (p *cachePool) idleBytes() int64 {
	var n int64
	for _, it := range p.idle {
		n += cacheFootprint(it.c)
	}
	return n
}

// drop frees every idle cache.
func (p *cachePool) drop() {
	for _, it := range p.idle {
		delete(p.adapters, it.c)
		it.c.Release()
	}
	p.idle = nil
}
