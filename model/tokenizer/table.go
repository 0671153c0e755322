package tokenizer

import (
	"fmt"
	"hash/maphash"
	"math"
	"unsafe"
)

// The tables of a tokenizer are laid out for a small heap: a vocabulary of
// 151,936 tokens and 151,387 merges (Qwen2.5) costs about 7 MiB here,
// where Go maps keyed by strings and a []string and [][]byte of the tokens
// cost 22 MiB (model.TestLoadHeap guards the total).

// arena holds many short byte strings in one allocation: string i is
// data[end[i-1]:end[i]]. Its bytes never change once built, so strings
// handed out point into it without copying.
type arena struct {
	data []byte
	end  []uint32
}

// newArena reserves room for n strings of size bytes in all.
func newArena(n, size int) arena {
	return arena{data: make([]byte, 0, size), end: make([]uint32, 0, n)}
}

// add appends the next string. The caller has checked that the total
// stays below 4 GiB (checkArenaSize).
func (a *arena) add(b []byte) { a.addString(unsafe.String(unsafe.SliceData(b), len(b))) }

func (a *arena) addString(s string) {
	a.data = append(a.data, s...)
	a.end = append(a.end, uint32(len(a.data)))
}

// trim gives back the spare capacity of an arena whose size was guessed.
func (a *arena) trim() {
	if cap(a.data)-len(a.data) > len(a.data)/16 {
		a.data = append(make([]byte, 0, len(a.data)), a.data...)
	}
}

func (a *arena) len() int { return len(a.end) }

// bytes returns string i; the slice's capacity ends with it, so an append
// by the caller copies instead of overwriting the next string.
func (a *arena) bytes(i int32) []byte {
	lo := uint32(0)
	if i > 0 {
		lo = a.end[i-1]
	}
	hi := a.end[i]
	return a.data[lo:hi:hi]
}

// str returns string i without copying (the arena never changes).
func (a *arena) str(i int32) string {
	b := a.bytes(i)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// checkArenaSize reports an error when strings of size bytes in all do
// not fit in an arena's uint32 offsets.
func checkArenaSize(size int, what string) error {
	if size > math.MaxUint32 {
		return fmt.Errorf("%w: %s take %d bytes (at most 4 GiB)", ErrInvalid, what, size)
	}
	return nil
}

// index is an open-addressing hash index from keys to item numbers
// (token ids, merge ranks) below maxIndexItems, with linear probing. Each
// slot holds the top 8 bits of its key's hash beside the item, so that
// most probes that miss compare no key. The keys themselves live with the
// items (the arena of token texts, the merge list): the index costs 4
// bytes a slot at a load of at most 2/3.
type index struct {
	slots []uint32 // 0: empty; else hash>>56 << 24 | item+1
	mask  uint64
}

// maxIndexItems bounds the item numbers an index stores (24 bits).
const maxIndexItems = 1<<24 - 1

func newIndex(n int) index {
	size := 16
	for size < n+n/2 {
		size <<= 1
	}
	return index{slots: make([]uint32, size), mask: uint64(size - 1)}
}

// probe is a position in the probe sequence of one hash.
type probe struct {
	pos uint64
	tag uint32
}

func (x *index) start(h uint64) probe { return probe{pos: h & x.mask, tag: uint32(h>>56) << 24} }

// next returns the next candidate item with the probe's tag, or false at
// the first empty slot (the key is absent).
func (x *index) next(p *probe) (int32, bool) {
	for {
		s := x.slots[p.pos]
		if s == 0 {
			return 0, false
		}
		p.pos = (p.pos + 1) & x.mask
		if s&0xff000000 == p.tag {
			return int32(s&0xffffff) - 1, true
		}
	}
}

// set stores item in the slot the probe last returned (replacing it) or,
// after next returned false, in the empty slot it stopped at.
func (x *index) set(p probe, found bool, item int32) {
	pos := p.pos
	if found {
		pos = (pos - 1) & x.mask
	}
	x.slots[pos] = p.tag | uint32(item+1)
}

// mix64 is the finalizer of MurmurHash3, used to hash token-id pairs.
func mix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// vocab maps token texts to ids: the texts in an arena, an index over it.
type vocab struct {
	text arena
	seed maphash.Seed
	ids  index
	dups bool // some text is the text of two tokens
}

// newVocab builds the lookup of tokens; a later duplicate of a text wins,
// as in llama.cpp.
func newVocab(tokens []string) (vocab, error) {
	if len(tokens) > maxIndexItems {
		return vocab{}, fmt.Errorf("%w: %d tokens (at most %d)", ErrInvalid, len(tokens), maxIndexItems)
	}
	size := 0
	for _, s := range tokens {
		size += len(s)
	}
	if err := checkArenaSize(size, "the token texts"); err != nil {
		return vocab{}, err
	}
	v := vocab{text: newArena(len(tokens), size), seed: maphash.MakeSeed(), ids: newIndex(len(tokens))}
	for i, s := range tokens {
		v.text.addString(s)
		p, _, found := v.lookup(s)
		v.dups = v.dups || found
		v.ids.set(p, found, int32(i))
	}
	return v, nil
}

// lookup finds the token whose text is s, returning the probe where it
// stopped (for index.set) and the token, or -1.
func (v *vocab) lookup(s string) (probe, int32, bool) {
	p := v.ids.start(maphash.String(v.seed, s))
	for {
		id, ok := v.ids.next(&p)
		if !ok {
			return p, -1, false
		}
		if v.text.str(id) == s {
			return p, id, true
		}
	}
}

// id returns the token whose text is s.
func (v *vocab) id(s string) (int32, bool) {
	_, id, ok := v.lookup(s)
	return id, ok
}

// idBytes is id for a byte slice (not kept).
func (v *vocab) idBytes(b []byte) (int32, bool) {
	return v.id(unsafe.String(unsafe.SliceData(b), len(b)))
}

// mergeEntry is the merge of rank i: the tokens merged and the token of
// the merged text (-1: none). left is -1 for ranks that are not in the
// index (a half that is not a token, or a duplicate of a lower rank).
type mergeEntry struct {
	left, right, result int32
}

// mergeTable finds merges by their pair of token ids.
type mergeTable struct {
	byRank []mergeEntry
	index  index
}

func pairHash(a, b int32) uint64 { return mix64(uint64(uint32(a))<<32 | uint64(uint32(b))) }

// add records the merge of rank (ranks are added in increasing order)
// unless a lower rank already merges the same pair (llama.cpp: the first
// rank wins).
func (m *mergeTable) add(rank, left, right, result int32) {
	m.byRank = append(m.byRank, mergeEntry{left: -1, right: -1, result: -1})
	p := m.index.start(pairHash(left, right))
	for {
		r, ok := m.index.next(&p)
		if !ok {
			break
		}
		if e := m.byRank[r]; e.left == left && e.right == right {
			return
		}
	}
	m.byRank[rank] = mergeEntry{left: left, right: right, result: result}
	m.index.set(p, false, rank)
}

// skip records a rank that is not in the index.
func (m *mergeTable) skip() {
	m.byRank = append(m.byRank, mergeEntry{left: -1, right: -1, result: -1})
}

// find returns the rank of the merge of tokens a and b and the token of
// the merged text.
func (m *mergeTable) find(a, b int32) (rank, result int32, ok bool) {
	p := m.index.start(pairHash(a, b))
	for {
		r, ok := m.index.next(&p)
		if !ok {
			return 0, 0, false
		}
		if e := &m.byRank[r]; e.left == a && e.right == b {
			return r, e.result, true
		}
	}
}
