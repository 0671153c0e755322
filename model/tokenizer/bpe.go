package tokenizer

import "unicode/utf8"

// symbol is one piece of a word during merging: bytes [start, start+n) of
// the byte-level encoded word, linked to its neighbours.
type symbol struct {
	start, n   int
	prev, next int
}

// bigram is a candidate merge of symbols left and right.
type bigram struct {
	rank        int32
	left, right int
	// n is the combined length when queued; the bigram is stale once either
	// side has changed length (llama.cpp compares the texts, which is the
	// same thing because a symbol's start never moves).
	leftN, rightN int
}

// bigramHeap is a binary min-heap ordered by rank, then by left position,
// the order of llama.cpp's llm_bigram_bpe comparator.
type bigramHeap []bigram

func (h bigramHeap) less(i, j int) bool {
	return h[i].rank < h[j].rank || (h[i].rank == h[j].rank && h[i].left < h[j].left)
}

func (h *bigramHeap) push(b bigram) {
	*h = append(*h, b)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *bigramHeap) pop() bigram {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// bpeState is the scratch space of one encoding call.
type bpeState struct {
	cpts    []uint32
	lens    []int
	enc     []byte
	symbols []symbol
	heap    bigramHeap
}

// rank returns the merge rank of the pair (a, b) of encoded pieces, or -1.
func (t *Tokenizer) rank(a, b string) int32 {
	ia, oka := t.ids[a]
	ib, okb := t.ids[b]
	if oka && okb {
		if r, ok := t.ranks[uint64(uint32(ia))<<32|uint64(uint32(ib))]; ok {
			return r
		}
		return -1
	}
	if len(t.rankStr) > 0 {
		if r, ok := t.rankStr[a+"\x00"+b]; ok {
			return r
		}
	}
	return -1
}

// encodeWord appends the tokens of one byte-level encoded pre-token,
// following llama.cpp's llm_tokenizer_bpe_session.
func (t *Tokenizer) encodeWord(st *bpeState, word string, out []int32) []int32 {
	if t.ignoreMerges {
		if id, ok := t.ids[word]; ok {
			return append(out, id)
		}
	}
	if ids, ok := t.cacheGet(word); ok {
		return append(out, ids...)
	}
	syms := st.symbols[:0]
	for off := 0; off < len(word); {
		_, n := utf8.DecodeRuneInString(word[off:])
		next := len(syms) + 1
		if off+n == len(word) {
			next = -1
		}
		syms = append(syms, symbol{start: off, n: n, prev: len(syms) - 1, next: next})
		off += n
	}
	h := st.heap[:0]
	addBigram := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l], syms[r]
		rk := t.rank(word[a.start:a.start+a.n], word[b.start:b.start+b.n])
		if rk < 0 {
			return
		}
		h.push(bigram{rank: rk, left: l, right: r, leftN: a.n, rightN: b.n})
	}
	for i := 1; i < len(syms); i++ {
		addBigram(i-1, i)
	}
	for len(h) > 0 {
		bg := h.pop()
		l, r := &syms[bg.left], &syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n != bg.leftN || r.n != bg.rightN {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		addBigram(l.prev, bg.left)
		addBigram(bg.left, l.next)
	}
	first := len(out)
	for _, s := range syms {
		if s.n == 0 {
			continue
		}
		piece := word[s.start : s.start+s.n]
		if id, ok := t.ids[piece]; ok {
			out = append(out, id)
			continue
		}
		// llama.cpp falls back to one token per byte of the piece, keeping
		// those bytes that are tokens by themselves.
		for j := 0; j < len(piece); j++ {
			if id, ok := t.ids[piece[j:j+1]]; ok {
				out = append(out, id)
			}
		}
	}
	st.symbols, st.heap = syms, h
	t.cachePut(word, out[first:])
	return out
}
