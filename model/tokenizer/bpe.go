package tokenizer

// symbol is one piece of a word during merging: raw bytes [start, start+n)
// of the pre-token, the token it spells (-1: none), linked to its neighbours.
type symbol struct {
	start, n   int
	prev, next int
	id         int32
}

// bigram is a candidate merge of symbols left and right.
type bigram struct {
	rank        int32
	result      int32 // token of the merged text, -1 if none
	left, right int
	// leftN and rightN are the sides' lengths when queued; the bigram is
	// stale once either has changed (llama.cpp compares the texts, which is
	// the same thing because a symbol's start never moves).
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

// merge looks up the merge of symbols a and b of word: its rank and the
// token of the merged text.
func (t *Tokenizer) merge(word string, a, b symbol) (rank, result int32, ok bool) {
	if a.id >= 0 && b.id >= 0 {
		return t.merges.find(a.id, b.id)
	}
	if len(t.rankStr) == 0 {
		return 0, 0, false
	}
	// A merge whose halves are not both tokens (not in the real
	// vocabularies, but GGUF files may have them): look it up by text.
	ea := string(byteEncode(nil, word[a.start:a.start+a.n]))
	eb := string(byteEncode(nil, word[b.start:b.start+b.n]))
	rank, ok = t.rankStr[ea+"\x00"+eb]
	if !ok {
		return 0, 0, false
	}
	result, _ = t.vocab.id(ea + eb) // -1 if none
	return rank, result, true
}

// encodeWord appends the tokens of one pre-token (raw text), following
// llama.cpp's llm_tokenizer_bpe_session: the byte-level encoded word is a
// token itself (only with ignore_merges), or its characters are merged by
// rank, lowest first and leftmost on ties.
func (t *Tokenizer) encodeWord(st *bpeState, word string, out []int32) []int32 {
	if t.ignoreMerges {
		st.enc = byteEncode(st.enc[:0], word)
		if id, ok := t.vocab.idBytes(st.enc); ok {
			return append(out, id)
		}
	}
	if out, ok := t.cache.get(word, out); ok {
		return out
	}
	syms := st.symbols[:0]
	for i := 0; i < len(word); i++ {
		next := i + 1
		if next == len(word) {
			next = -1
		}
		syms = append(syms, symbol{start: i, n: 1, prev: i - 1, next: next, id: t.byteIDs[word[i]]})
	}
	h := st.heap[:0]
	addBigram := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l], syms[r]
		rank, result, ok := t.merge(word, a, b)
		if !ok {
			return
		}
		h.push(bigram{rank: rank, result: result, left: l, right: r, leftN: a.n, rightN: b.n})
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
		l.id = bg.result
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
		if s.id >= 0 {
			out = append(out, s.id)
			continue
		}
		// Not a token: llama.cpp falls back to one token per byte of the
		// encoded piece, keeping those bytes that are tokens by themselves.
		piece := byteEncode(nil, word[s.start:s.start+s.n])
		for j := range piece {
			if id, ok := t.vocab.idBytes(piece[j : j+1]); ok {
				out = append(out, id)
			}
		}
	}
	st.symbols, st.heap = syms, h
	t.cache.put(word, out[first:])
	return out
}
