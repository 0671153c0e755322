package tokenizer

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
)

// wordCache remembers the ids of pre-tokens already merged: ordinary text
// repeats its words, and a cached word costs a lookup instead of a BPE
// merge. It holds up to maxCacheEntries words of at most maxCachedWord
// bytes in at most cacheBytes (about 3 MiB in all with the index; Go maps
// of strings to slices took 8 MiB for as many words, and gave the garbage
// collector 130,000 pointers to scan), and starts over when full. It
// allocates nothing until the first word is stored. It is safe for
// concurrent use.
type wordCache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	slots []uint32 // 0: empty; else hash>>53 << 21 | offset+1 of the entry in data
	data  []byte   // entries: key length, id count, key bytes, ids (4 bytes each, little-endian)
	n     int
}

const (
	maxCacheEntries = 1 << 16
	maxCachedWord   = 64
	cacheSlots      = 2 * maxCacheEntries // at most half full
	cacheBytes      = 2<<20 - 1           // entry offsets + 1 fit 21 bits
	cacheOffsetBits = 21
	cacheOffsetMask = 1<<cacheOffsetBits - 1
)

func newWordCache() *wordCache { return &wordCache{seed: maphash.MakeSeed()} }

// get appends the cached ids of word to out.
func (c *wordCache) get(word string, out []int32) ([]int32, bool) {
	if len(word) > maxCachedWord {
		return out, false
	}
	h := maphash.String(c.seed, word)
	c.mu.Lock()
	defer c.mu.Unlock()
	off, ok := c.find(h, word)
	if !ok {
		return out, false
	}
	n := int(c.data[off+1])
	ids := c.data[off+2+len(word):]
	for i := range n {
		out = append(out, int32(binary.LittleEndian.Uint32(ids[4*i:])))
	}
	return out, true
}

// find returns the offset of word's entry; c.mu is held.
func (c *wordCache) find(h uint64, word string) (int, bool) {
	if c.slots == nil {
		return 0, false
	}
	tag := uint32(h>>53) << cacheOffsetBits
	for pos := h & (cacheSlots - 1); ; pos = (pos + 1) & (cacheSlots - 1) {
		s := c.slots[pos]
		if s == 0 {
			return int(pos), false
		}
		if s&^cacheOffsetMask != tag {
			continue
		}
		off := int(s&cacheOffsetMask) - 1
		if k := int(c.data[off]); k == len(word) && string(c.data[off+2:off+2+k]) == word {
			return off, true
		}
	}
}

// put stores the ids of word.
func (c *wordCache) put(word string, ids []int32) {
	size := 2 + len(word) + 4*len(ids)
	if len(word) > maxCachedWord || len(ids) > 255 {
		return
	}
	h := maphash.String(c.seed, word)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		c.slots = make([]uint32, cacheSlots)
		c.data = make([]byte, 0, 64<<10)
	}
	if c.n >= maxCacheEntries || len(c.data)+size > cacheBytes {
		c.resetLocked()
	}
	pos, found := c.find(h, word)
	if found {
		return // another goroutine stored it first
	}
	off := len(c.data)
	c.data = append(c.data, byte(len(word)), byte(len(ids)))
	c.data = append(c.data, word...)
	for _, id := range ids {
		c.data = binary.LittleEndian.AppendUint32(c.data, uint32(id))
	}
	c.slots[pos] = uint32(h>>53)<<cacheOffsetBits | uint32(off+1)
	c.n++
}

// reset empties the cache, keeping its memory.
func (c *wordCache) reset() {
	c.mu.Lock()
	c.resetLocked()
	c.mu.Unlock()
}

func (c *wordCache) resetLocked() {
	clear(c.slots)
	c.data = c.data[:0]
	c.n = 0
}

// len is the number of cached words.
func (c *wordCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
