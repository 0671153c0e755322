// Package kvcache holds the keys and values of the tokens a model has
// already seen, per layer, in F16 as llama.cpp stores them by default, and
// the token ids they came from so that a new prompt sharing a prefix with
// the last one reuses it.
package kvcache

import (
	"errors"
	"fmt"
)

// ErrFull is returned (wrapped) when tokens do not fit in the cache.
var ErrFull = errors.New("context full")

// Cache is the key/value cache of one sequence. It is not safe for
// concurrent use.
type Cache struct {
	layers, kvDim, size int
	k, v                [][]uint16 // per layer: size rows of kvDim F16 values
	tokens              []int      // the committed tokens
}

// New makes a cache of size positions for layers layers whose keys and
// values have kvDim elements per position (KV heads times head size).
func New(layers, kvDim, size int) (*Cache, error) {
	if layers <= 0 || kvDim <= 0 || size <= 0 {
		return nil, fmt.Errorf("kvcache: layers %d, kv dim %d, size %d: all must be positive", layers, kvDim, size)
	}
	c := &Cache{layers: layers, kvDim: kvDim, size: size}
	c.k = make([][]uint16, layers)
	c.v = make([][]uint16, layers)
	for l := range layers {
		c.k[l] = make([]uint16, size*kvDim)
		c.v[l] = make([]uint16, size*kvDim)
	}
	return c, nil
}

// Size is the number of positions the cache holds.
func (c *Cache) Size() int { return c.size }

// Len is the number of committed positions.
func (c *Cache) Len() int { return len(c.tokens) }

// Bytes is the memory the keys and values take.
func (c *Cache) Bytes() int64 { return int64(c.layers) * int64(c.size) * int64(c.kvDim) * 2 * 2 }

// Tokens returns the committed tokens; the caller must not modify them.
func (c *Cache) Tokens() []int { return c.tokens }

// Room reports ErrFull when n more positions do not fit.
func (c *Cache) Room(n int) error {
	if n < 0 || len(c.tokens)+n > c.size {
		return fmt.Errorf("%w: %d tokens in the cache and %d more exceed its %d", ErrFull, len(c.tokens), n, c.size)
	}
	return nil
}

// Put stores the key and value of position pos in layer, rounded to F16.
// pos may run ahead of Len (a batch being processed) but not past Size.
func (c *Cache) Put(layer, pos int, k, v []float32) {
	off := pos * c.kvDim
	kd, vd := c.k[layer][off:off+c.kvDim], c.v[layer][off:off+c.kvDim]
	for i := range kd {
		kd[i] = FromFloat32(k[i])
		vd[i] = FromFloat32(v[i])
	}
}

// Keys returns the F16 keys of positions [0, n) of layer, kvDim per row.
func (c *Cache) Keys(layer, n int) []uint16 { return c.k[layer][:n*c.kvDim] }

// Values returns the F16 values of positions [0, n) of layer.
func (c *Cache) Values(layer, n int) []uint16 { return c.v[layer][:n*c.kvDim] }

// Commit appends tokens, whose keys and values have been Put, to the
// committed sequence.
func (c *Cache) Commit(tokens ...int) error {
	if err := c.Room(len(tokens)); err != nil {
		return err
	}
	c.tokens = append(c.tokens, tokens...)
	return nil
}

// Truncate forgets every position from n on.
func (c *Cache) Truncate(n int) {
	if n < len(c.tokens) {
		c.tokens = c.tokens[:max(n, 0)]
	}
}

// CommonPrefix is the number of leading tokens of ids already committed.
func (c *Cache) CommonPrefix(ids []int) int {
	n := 0
	for n < len(ids) && n < len(c.tokens) && ids[n] == c.tokens[n] {
		n++
	}
	return n
}
