package arch

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/chatloop/chatloop/model/kvcache"
)

// prefilled returns a cache of size positions holding fill tokens run
// through m.
func prefilled(t testing.TB, m *Model, size, fill int, seed int) *kvcache.Cache {
	t.Helper()
	c, err := m.NewCache(size)
	if err != nil {
		t.Fatal(err)
	}
	if fill == 0 {
		return c
	}
	toks := make([]int, fill)
	for i := range toks {
		toks[i] = (seed*7 + i*13) % m.Config.Vocab
	}
	if err := m.Forward(toks, c, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// sameCache fails unless a and b hold the same tokens, keys and values.
func sameCache(t *testing.T, what string, a, b *kvcache.Cache) {
	t.Helper()
	if a.Len() != b.Len() || a.CommonPrefix(b.Tokens()) != a.Len() {
		t.Fatalf("%s: tokens %v and %v", what, a.Tokens(), b.Tokens())
	}
	ka, kb := make([]uint16, a.KVDim()), make([]uint16, b.KVDim())
	for l := range a.Layers() {
		for p := range a.Len() {
			a.Key(l, p, ka)
			b.Key(l, p, kb)
			va, vb := a.Value(l, p), b.Value(l, p)
			for d := range ka {
				if ka[d] != kb[d] || va[d] != vb[d] {
					t.Fatalf("%s: layer %d position %d element %d: key %#04x/%#04x, value %#04x/%#04x", what, l, p, d, ka[d], kb[d], va[d], vb[d])
				}
			}
		}
	}
}

// TestForwardBatchEqualsSeparate runs batches of sequences of different
// lengths and cache fills and checks every sequence's logits and cache
// against running it alone, bit for bit.
func TestForwardBatchEqualsSeparate(t *testing.T) {
	type seq struct {
		fill, tokens int
		logits       bool
	}
	cases := []struct {
		name string
		seqs []seq
	}{
		{"one decode", []seq{{5, 1, true}}},
		{"one prefill", []seq{{0, 9, true}}},
		{"two prefills", []seq{{0, 4, true}, {3, 6, true}}},
		{"prefill of 7 and three decodes", []seq{{0, 7, true}, {12, 1, true}, {4, 1, true}, {30, 1, true}}},
		{"four decodes, one without logits", []seq{{1, 1, true}, {8, 1, false}, {17, 1, true}, {2, 1, true}}},
		{"five mixed across a page boundary", []seq{{254, 5, true}, {0, 3, false}, {255, 1, true}, {100, 2, true}, {9, 11, true}}},
	}
	for _, arch := range Supported() {
		m := randomModel(t, arch, 11)
		for _, tc := range cases {
			t.Run(arch+"/"+tc.name, func(t *testing.T) {
				batch := make([]Seq, len(tc.seqs))
				alone := make([]Seq, len(tc.seqs))
				for i, s := range tc.seqs {
					toks := make([]int, s.tokens)
					for j := range toks {
						toks[j] = (i*17 + j*5 + 3) % m.Config.Vocab
					}
					batch[i] = Seq{Tokens: toks, Cache: prefilled(t, m, 300, s.fill, i)}
					alone[i] = Seq{Tokens: toks, Cache: prefilled(t, m, 300, s.fill, i)}
					if s.logits {
						batch[i].Logits = make([]float32, m.Config.Vocab)
						alone[i].Logits = make([]float32, m.Config.Vocab)
					}
				}
				if err := m.ForwardBatch(batch); err != nil {
					t.Fatal(err)
				}
				for i := range alone {
					if err := m.Forward(alone[i].Tokens, alone[i].Cache, alone[i].Logits); err != nil {
						t.Fatal(err)
					}
				}
				for i := range batch {
					for j := range batch[i].Logits {
						if math.Float32bits(batch[i].Logits[j]) != math.Float32bits(alone[i].Logits[j]) {
							t.Fatalf("sequence %d logit %d: batched %v, alone %v", i, j, batch[i].Logits[j], alone[i].Logits[j])
						}
					}
					sameCache(t, fmt.Sprintf("sequence %d", i), batch[i].Cache, alone[i].Cache)
					if batch[i].Cache.Len() != tc.seqs[i].fill+tc.seqs[i].tokens {
						t.Errorf("sequence %d: cache length %d, want %d", i, batch[i].Cache.Len(), tc.seqs[i].fill+tc.seqs[i].tokens)
					}
				}
			})
		}
	}
}

func TestForwardBatchRefusesBeforeChanging(t *testing.T) {
	m := randomModel(t, "llama", 12)
	a := prefilled(t, m, 10, 4, 1)
	b := prefilled(t, m, 6, 5, 2)
	logits := make([]float32, m.Config.Vocab)
	err := m.ForwardBatch([]Seq{{Tokens: []int{1, 2}, Cache: a, Logits: logits}, {Tokens: []int{3, 4}, Cache: b}})
	if !errors.Is(err, kvcache.ErrFull) {
		t.Fatalf("second sequence over its cache: got %v, want ErrFull", err)
	}
	if a.Len() != 4 || b.Len() != 5 {
		t.Fatalf("a refused batch changed the caches: lengths %d, %d; want 4, 5", a.Len(), b.Len())
	}
	for _, tc := range []struct {
		name string
		seqs []Seq
	}{
		{"no sequences", nil},
		{"no tokens", []Seq{{Cache: a}}},
		{"no cache", []Seq{{Tokens: []int{1}}}},
		{"shared cache", []Seq{{Tokens: []int{1}, Cache: a}, {Tokens: []int{2}, Cache: a}}},
		{"token outside the vocabulary", []Seq{{Tokens: []int{1}, Cache: b}, {Tokens: []int{-1}, Cache: a}}},
		{"short logits", []Seq{{Tokens: []int{1}, Cache: a, Logits: logits[:3]}}},
	} {
		if err := m.ForwardBatch(tc.seqs); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	other, _ := kvcache.New(3, m.Config.KVHeads*m.Config.HeadDim, 10)
	if err := m.ForwardBatch([]Seq{{Tokens: []int{1}, Cache: other}}); err == nil {
		t.Error("cache of another model's shape: no error")
	}
	if a.Len() != 4 || b.Len() != 5 {
		t.Fatalf("refused batches changed the caches: lengths %d, %d; want 4, 5", a.Len(), b.Len())
	}
	// The refusals left the model usable.
	if err := m.ForwardBatch([]Seq{{Tokens: []int{1, 2}, Cache: a, Logits: logits}, {Tokens: []int{3}, Cache: b}}); err != nil {
		t.Fatal(err)
	}
}

// TestForwardAllocatesNothing checks that decode steps, once the model's
// workspace and the caches' pages are there, allocate nothing.
func TestForwardAllocatesNothing(t *testing.T) {
	m := randomModel(t, "qwen3", 13)
	logits := make([]float32, m.Config.Vocab)
	one := prefilled(t, m, 64, 10, 1)
	// Warm up with a batch as large as the ones measured.
	if err := m.Forward([]int{1, 2, 3, 4}, one, logits); err != nil {
		t.Fatal(err)
	}
	tok := []int{7}
	c := &m.Config
	perToken := int64(4 * (5*c.Hidden + 2*c.KVHeads*c.HeadDim + 2*c.FFN))
	if got := m.WorkspaceBytes(); got < 4*perToken || got > 4*perToken+64<<10 {
		t.Errorf("workspace after a batch of 4: %d bytes, want %d and a little scratch", got, 4*perToken)
	}
	if got := testing.AllocsPerRun(20, func() {
		one.Truncate(14)
		if err := m.Forward(tok, one, logits); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("one-sequence decode step: %v allocations, want 0", got)
	}
	var seqs [4]Seq
	for i := range seqs {
		seqs[i] = Seq{Tokens: []int{i + 1}, Cache: prefilled(t, m, 64, 3+5*i, i), Logits: make([]float32, m.Config.Vocab)}
	}
	seqs[2].Logits = nil
	if got := testing.AllocsPerRun(20, func() {
		for i := range seqs {
			seqs[i].Cache.Truncate(3 + 5*i)
		}
		if err := m.ForwardBatch(seqs[:]); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("four-sequence decode step: %v allocations, want 0", got)
	}
}
