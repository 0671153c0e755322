package model

import "github.com/chatloop/chatloop/model/kvcache"

// cacheFootprint is the memory an idle cache holds on the Go heap: its
// key/value pages, its token list (8 bytes a token) and the page table,
// so that prefix_cache_mb bounds what the process really keeps, not only
// the keys and values.
func cacheFootprint(c *kvcache.Cache) int64 {
	const sliceHeader, structSize = 24, 64
	return c.Bytes() + int64(cap(c.Tokens()))*8 + int64(c.Pages())*sliceHeader + structSize
}

// dropSuperseded frees the idle caches that c, just released after a
// prompt of promptLen tokens, supersedes: those of the same adapter set
// whose whole prompt lies inside c's longer prompt. They are earlier turns
// of c's chat (an A/B alternative not continued, a turn answered before a
// regeneration): any request they could serve, c serves as well, and kept
// they would pile up one a turn until the budget evicts them.
func (p *cachePool) dropSuperseded(c *kvcache.Cache, promptLen int) {
	key := p.adapters[c]
	tokens := c.Tokens()[:min(promptLen, c.Len())]
	for i := 0; i < len(p.idle); {
		it := p.idle[i]
		if it.c == c || p.adapters[it.c] != key || it.prompt >= len(tokens) || it.prompt == 0 ||
			commonPrefixLen(it.c.Tokens()[:it.prompt], tokens) < it.prompt-takeOverSlack {
			i++
			continue
		}
		p.log.Debug("prefix cache: dropped a cache superseded by a later turn", "tokens", it.c.Len(), "by", len(tokens))
		delete(p.adapters, it.c)
		it.c.Release()
		p.idle = append(p.idle[:i], p.idle[i+1:]...)
	}
}

func commonPrefixLen(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
