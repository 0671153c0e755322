package sample

import (
	"math"
	"slices"
)

// The candidates' order (by logit, best first, ties by id) as 64-bit
// integers: a 32-bit key that sorts a float32 descending in the high half,
// the id in the low half. Radix sorting the high halves, stably, of items
// built in id order leaves them in exactly the order slices.SortFunc(order)
// gives, in O(n) instead of O(n log n) comparisons.
const (
	radixBits   = 11
	radixPasses = 3 // 33 bits cover the 32-bit key
	radixMask   = 1<<radixBits - 1
	// radixMin is the smallest slice worth radix sorting.
	radixMin = 256
)

// orderKey maps a logit (not NaN) to a key that sorts larger logits
// first; -0 and +0 share a key, as they compare equal.
func orderKey(l float32) uint32 {
	u := math.Float32bits(l)
	if u<<1 == 0 {
		u = 0
	}
	if u>>31 != 0 {
		return u // negative: ^(^u), the larger the float the smaller u
	}
	return ^(u | 1<<31)
}

// sortAll returns the n valid logits as candidates, sorted.
func (s *Sampler) sortAll(logits []float32, n int) []candidate {
	items := s.itemBuffer(n)
	for i, l := range logits {
		if valid(l) {
			items = append(items, uint64(orderKey(l))<<32|uint64(i))
		}
	}
	return s.fromItems(s.radix(items), logits, s.buffer(n))
}

// sortIDOrdered sorts c, whose ids ascend, in place.
func (s *Sampler) sortIDOrdered(c []candidate, logits []float32) []candidate {
	if len(c) < radixMin {
		slices.SortFunc(c, order)
		return c
	}
	items := s.itemBuffer(len(c))
	for _, x := range c {
		items = append(items, uint64(orderKey(x.logit))<<32|uint64(x.id))
	}
	return s.fromItems(s.radix(items), logits, c[:0])
}

func (s *Sampler) fromItems(items []uint64, logits []float32, c []candidate) []candidate {
	for _, it := range items {
		id := int(uint32(it))
		c = append(c, candidate{id: id, logit: logits[id]})
	}
	return c
}

// itemBuffer returns an empty slice with room for n items, and room for as
// many again behind it for radix to use.
func (s *Sampler) itemBuffer(n int) []uint64 {
	if cap(s.items) < 2*n {
		s.items = make([]uint64, 0, 2*n)
	}
	return s.items[:0]
}

// radix sorts items, which lie at the start of s.items, by their high
// halves, stably, and returns them sorted (in one half of s.items or the
// other). A pass whose digit is the same in every item is skipped.
func (s *Sampler) radix(items []uint64) []uint64 {
	n := len(items)
	if n < 2 {
		return items
	}
	src, dst := items, s.items[n:2*n]
	c := &s.counts
	*c = [radixPasses][1 << radixBits]uint32{}
	for _, it := range items {
		k := uint32(it >> 32)
		c[0][k&radixMask]++
		c[1][k>>radixBits&radixMask]++
		c[2][k>>(2*radixBits)]++
	}
	for pass := range radixPasses {
		shift := 32 + pass*radixBits
		count := &c[pass]
		if count[src[0]>>shift&radixMask] == uint32(n) {
			continue
		}
		sum := uint32(0)
		for d, k := range count {
			count[d] = sum
			sum += k
		}
		for _, it := range src {
			d := it >> shift & radixMask
			dst[count[d]] = it
			count[d]++
		}
		src, dst = dst, src
	}
	return src
}
