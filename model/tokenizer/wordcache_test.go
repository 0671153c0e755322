package tokenizer

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestWordCache(t *testing.T) {
	c := newWordCache()
	if _, ok := c.get("hello", nil); ok {
		t.Fatal("an empty cache found a word")
	}
	idsOf := func(i int) []int32 {
		ids := make([]int32, i%5)
		for j := range ids {
			ids[j] = int32(i*7 + j - 3) // some negative: stored as they are
		}
		return ids
	}
	const n = 20000
	for i := range n {
		c.put(fmt.Sprintf("w%d", i), idsOf(i))
	}
	if c.len() != n {
		t.Fatalf("%d words cached, want %d", c.len(), n)
	}
	for i := range n {
		got, ok := c.get(fmt.Sprintf("w%d", i), []int32{42})
		if !ok || !slices.Equal(got, append([]int32{42}, idsOf(i)...)) {
			t.Fatalf("get(w%d) = %v, %v; want [42] + %v", i, got, ok, idsOf(i))
		}
	}
	if _, ok := c.get("w", nil); ok {
		t.Error("found a word never stored")
	}
	c.put("w1", []int32{9}) // already there: kept as it was
	if got, _ := c.get("w1", nil); !slices.Equal(got, idsOf(1)) {
		t.Errorf("get(w1) after a second put = %v, want %v", got, idsOf(1))
	}
	long := strings.Repeat("x", maxCachedWord+1)
	c.put(long, []int32{1})
	c.put("many", make([]int32, 256))
	if _, ok := c.get(long, nil); ok {
		t.Error("a word longer than maxCachedWord was cached")
	}
	if _, ok := c.get("many", nil); ok {
		t.Error("a word of 256 ids was cached")
	}
	// Full: the cache starts over rather than growing.
	for i := n; i < maxCacheEntries+10; i++ {
		c.put(fmt.Sprintf("w%d", i), idsOf(i))
	}
	if c.len() != 10 {
		t.Errorf("%d words after filling up, want the 10 stored since it started over", c.len())
	}
	if got, ok := c.get(fmt.Sprintf("w%d", maxCacheEntries+9), nil); !ok || !slices.Equal(got, idsOf(maxCacheEntries+9)) {
		t.Errorf("latest word: %v, %v", got, ok)
	}
	// Out of bytes: words of 64 bytes with 60 ids fill 2 MiB before
	// 65,536 entries.
	c.reset()
	big := make([]int32, 60)
	for i := range 9000 {
		c.put(fmt.Sprintf("%064d", i), big)
	}
	if c.len() >= 9000 || len(c.data) > cacheBytes {
		t.Errorf("%d words in %d bytes: the byte budget of %d was not kept", c.len(), len(c.data), cacheBytes)
	}
}

// TestWordCacheHeap fills the cache of a real tokenizer with 65,536
// distinct words and checks that it holds at most 3.5 MiB (its index is
// 0.5 MiB, its entries at most 2 MiB, append's growth can leave up to a
// quarter more), where a Go map of strings to slices held 8.2 MiB.
func TestWordCacheHeap(t *testing.T) {
	tok := realTokenizer(t, "qwen2", "qwen2")
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	letters := "etaoinshrdlucmfwyp"
	var sb strings.Builder
	for i := 0; tok.cache.len() < maxCacheEntries-1 && i < 1<<20; i++ {
		sb.Reset()
		sb.WriteByte(' ')
		for x := i + 1; x > 0; x /= len(letters) {
			sb.WriteByte(letters[x%len(letters)])
		}
		tok.Encode(sb.String())
	}
	held := heap() - before
	t.Logf("%d words cached in %.2f MiB", tok.cache.len(), float64(held)/(1<<20))
	if tok.cache.len() < maxCacheEntries-1 {
		t.Fatalf("only %d words cached", tok.cache.len())
	}
	if held > 3.5*(1<<20) {
		t.Errorf("a full word cache holds %.2f MiB, want at most 3.5", float64(held)/(1<<20))
	}
}
