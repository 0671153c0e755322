// Package kvcache holds the keys and values of the tokens a model has
// already seen, per layer, in F16 as llama.cpp stores them by default, and
// the token ids they came from so that a new prompt sharing a prefix with
// the last one reuses it.
//
// Memory grows with use: positions live in pages of PageSize positions
// (fewer for the last page of a cache whose size is not a multiple), each
// page holding every layer's keys and values, allocated when a position
// in it is first reserved. Truncate keeps the pages for reuse; Release
// frees them.
//
// Within a page, keys are stored transposed (element d of the page's
// position i at d*stride+i, stride being the page's number of positions)
// so that attention can score many positions against one query with
// vector instructions; values are stored by position (position i's
// elements at i*kvDim). Put and Key/Value hide the layout.
package kvcache

import (
	"errors"
	"fmt"
)

// ErrFull is returned (wrapped) when tokens do not fit in the cache.
var ErrFull = errors.New("context full")

// ErrMismatch is returned (wrapped) by CopyPrefix when the caches' shapes
// differ or the prefix is not there.
var ErrMismatch = errors.New("kvcache: caches do not match")

// PageSize is the number of positions allocated at once.
const PageSize = 256

// Cache is the key/value cache of one sequence. It is not safe for
// concurrent use.
type Cache struct {
	layers, kvDim, size int
	pages               [][]uint16 // allocated pages, in order
	tokens              []int      // the committed tokens
}

// New makes a cache of size positions for layers layers whose keys and
// values have kvDim elements per position (KV heads times head size). It
// allocates no key/value memory until positions are reserved.
func New(layers, kvDim, size int) (*Cache, error) {
	if layers <= 0 || kvDim <= 0 || size <= 0 {
		return nil, fmt.Errorf("kvcache: layers %d, kv dim %d, size %d: all must be positive", layers, kvDim, size)
	}
	if int64(layers)*int64(kvDim)*PageSize*2 > 1<<40 || int64(kvDim)*int64(size) > 1<<40 {
		return nil, fmt.Errorf("kvcache: layers %d, kv dim %d, size %d: too large", layers, kvDim, size)
	}
	return &Cache{layers: layers, kvDim: kvDim, size: size}, nil
}

// Size is the number of positions the cache holds.
func (c *Cache) Size() int { return c.size }

// Len is the number of committed positions.
func (c *Cache) Len() int { return len(c.tokens) }

// Layers is the number of layers.
func (c *Cache) Layers() int { return c.layers }

// KVDim is the number of key (and value) elements per position and layer.
func (c *Cache) KVDim() int { return c.kvDim }

// Bytes is the memory the allocated keys and values take.
func (c *Cache) Bytes() int64 {
	var n int64
	for _, p := range c.pages {
		n += int64(len(p)) * 2
	}
	return n
}

// Tokens returns the committed tokens; the caller must not modify them.
func (c *Cache) Tokens() []int { return c.tokens }

// Room reports ErrFull when n more positions do not fit.
func (c *Cache) Room(n int) error {
	if n < 0 || n > c.size-len(c.tokens) {
		return fmt.Errorf("%w: %d tokens in the cache and %d more exceed its %d", ErrFull, len(c.tokens), n, c.size)
	}
	return nil
}

// pageCap is the number of positions page p holds.
func (c *Cache) pageCap(p int) int { return min(PageSize, c.size-p*PageSize) }

// Reserve makes sure the pages for n positions after the committed ones
// are allocated, or reports ErrFull, allocating nothing, when they do not
// fit.
func (c *Cache) Reserve(n int) error {
	if err := c.Room(n); err != nil {
		return err
	}
	end := len(c.tokens) + n
	for len(c.pages)*PageSize < end {
		p := len(c.pages)
		c.pages = append(c.pages, make([]uint16, c.layers*2*c.pageCap(p)*c.kvDim))
	}
	if reserved := min(len(c.pages)*PageSize, c.size); cap(c.tokens) < reserved {
		// Commit appends without allocating until the next page.
		c.tokens = append(make([]int, 0, reserved), c.tokens...)
	}
	return nil
}

// Pages is the number of allocated pages; positions [0, Pages()*PageSize)
// (up to Size) can be Put.
func (c *Cache) Pages() int { return len(c.pages) }

// Page returns layer's part of page p: keys transposed (element d of the
// page's position i at d*stride+i), values by position (element d of
// position i at i*KVDim()+d), and stride, the number of positions the
// page holds. Page p starts at position p*PageSize.
func (c *Cache) Page(layer, p int) (keys, values []uint16, stride int) {
	stride = c.pageCap(p)
	n := stride * c.kvDim
	pg := c.pages[p][layer*2*n:]
	return pg[:n:n], pg[n : 2*n : 2*n], stride
}

// Put stores the key and value of position pos in layer, rounded to F16.
// pos may run ahead of Len (a batch being processed) but must lie in a
// reserved page.
func (c *Cache) Put(layer, pos int, k, v []float32) {
	keys, values, stride := c.Page(layer, pos/PageSize)
	i := pos % PageSize
	k, v = k[:c.kvDim], v[:c.kvDim]
	for d, x := range k {
		keys[d*stride+i] = FromFloat32(x)
	}
	vd := values[i*c.kvDim : (i+1)*c.kvDim]
	for d, x := range v {
		vd[d] = FromFloat32(x)
	}
}

// Key writes the F16 key of position pos in layer to dst (KVDim
// elements).
func (c *Cache) Key(layer, pos int, dst []uint16) {
	keys, _, stride := c.Page(layer, pos/PageSize)
	i := pos % PageSize
	dst = dst[:c.kvDim]
	for d := range dst {
		dst[d] = keys[d*stride+i]
	}
}

// Value returns the F16 value of position pos in layer.
func (c *Cache) Value(layer, pos int) []uint16 {
	_, values, _ := c.Page(layer, pos/PageSize)
	i := pos % PageSize
	return values[i*c.kvDim : (i+1)*c.kvDim]
}

// Commit appends tokens, whose keys and values have been Put, to the
// committed sequence.
func (c *Cache) Commit(tokens ...int) error {
	if err := c.Room(len(tokens)); err != nil {
		return err
	}
	if end := len(c.tokens) + len(tokens); end > len(c.pages)*PageSize {
		return fmt.Errorf("kvcache: commit of positions up to %d beyond the %d reserved", end, len(c.pages)*PageSize)
	}
	c.tokens = append(c.tokens, tokens...)
	return nil
}

// Truncate forgets every position from n on, keeping the pages.
func (c *Cache) Truncate(n int) {
	if n < len(c.tokens) {
		c.tokens = c.tokens[:max(n, 0)]
	}
}

// Release forgets every position and frees the pages.
func (c *Cache) Release() {
	c.tokens = c.tokens[:0]
	clear(c.pages)
	c.pages = c.pages[:0]
}

// CommonPrefix is the number of leading tokens of ids already committed.
func (c *Cache) CommonPrefix(ids []int) int {
	n := 0
	for n < len(ids) && n < len(c.tokens) && ids[n] == c.tokens[n] {
		n++
	}
	return n
}

// CopyPrefix replaces c's contents with the first n positions of src
// (their tokens, keys and values), so that a new sequence starts from a
// prefix another has computed, such as a shared system prompt. The caches
// must have the same layers and KV size; c's Size may differ but must hold
// n positions. Of a last page less than half used only the used
// positions are copied (the rest keeps what it held); positions past n are
// never read before they are Put again. On error c is unchanged.
func (c *Cache) CopyPrefix(src *Cache, n int) error {
	switch {
	case src.layers != c.layers || src.kvDim != c.kvDim:
		return fmt.Errorf("%w: %d layers × %d, source %d × %d", ErrMismatch, c.layers, c.kvDim, src.layers, src.kvDim)
	case n < 0 || n > src.Len():
		return fmt.Errorf("%w: prefix of %d positions from a cache holding %d", ErrMismatch, n, src.Len())
	case n > c.size:
		return fmt.Errorf("%w: prefix of %d positions into a cache of %d", ErrFull, n, c.size)
	case src == c:
		c.Truncate(n)
		return nil
	}
	c.tokens = append(c.tokens[:0], src.tokens[:n]...)
	if err := c.Reserve(0); err != nil { // allocates the pages of [0, n); cannot fail as n <= size
		return err
	}
	for p := 0; p*PageSize < n; p++ {
		used := min(PageSize, n-p*PageSize)
		if c.pageCap(p) == src.pageCap(p) && 2*used >= c.pageCap(p) {
			// Laid out alike and at least half used: one copy beats
			// KVDim strided ones per layer.
			copy(c.pages[p], src.pages[p])
			continue
		}
		// A last page less than half used, or pages of different
		// strides: only the used positions, which is all attention reads.
		for l := range c.layers {
			dk, dv, ds := c.Page(l, p)
			sk, sv, ss := src.Page(l, p)
			for d := range c.kvDim {
				copy(dk[d*ds:d*ds+used], sk[d*ss:d*ss+used])
			}
			copy(dv[:used*c.kvDim], sv[:used*c.kvDim])
		}
	}
	return nil
}
