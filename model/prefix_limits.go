package model

import (
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/chatloop/chatloop/model/kvcache"
)

// gcSlack is how much more than its live heap a Go program may hold
// between two collections: 1 + GOGC/100 (GOGC from the environment, 100
// by default). An evicted cache is garbage until the next collection, and
// the collector lets garbage grow up to GOGC% of the live heap before it
// runs: a cache pool whose live caches take L bytes costs up to
// L × gcSlack. With GOGC=off it is 1: then only GOMEMLIMIT bounds the
// heap, and it is what to set.
func gcSlack() float64 {
	v := strings.TrimSpace(os.Getenv("GOGC"))
	if strings.EqualFold(v, "off") {
		return 1
	}
	pct, err := strconv.Atoi(v)
	if err != nil || pct < 0 {
		pct = 100
	}
	return 1 + float64(pct)/100
}

// liveBudget is how many bytes of live caches a configured budget allows
// when the collector's slack is slack: budget / slack, so that live
// caches plus the garbage of evicted ones stay within budget.
func liveBudget(budget int64, slack float64) int64 {
	if budget <= 0 || slack <= 1 {
		return budget
	}
	return int64(math.Floor(float64(budget) / slack))
}

// cacheFootprint is the memory an idle cache holds on the Go heap: its
// key/value pages, its token list and page table at their capacities and
// the cache itself, as the allocator rounds them (kvcache.HeapBytes), so
// that prefix_cache_mb bounds what the process really keeps, not only the
// keys and values (TestFootprintMatchesHeap checks it against the
// runtime's own measure).
func cacheFootprint(c *kvcache.Cache) int64 { return c.HeapBytes() }

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
