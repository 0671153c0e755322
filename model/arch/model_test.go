package arch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/kvcache"
)

// f32Kernels is a plain float32 implementation of Kernels for F32 weights,
// enough to test the forward pass's bookkeeping; the arithmetic is checked
// against llama.cpp by the engine's golden tests.
type f32Kernels struct{}

func (f32Kernels) MatMul(ws []*Matrix, xs [][]float32, ys [][][]float32) error {
	for j, w := range ws {
		if w.Type != ggml.F32 {
			return fmt.Errorf("f32Kernels: type %s", w.Type)
		}
		for i, x := range xs {
			for r := range w.Rows {
				var s float64
				for c := range w.Cols {
					s += float64(math.Float32frombits(binary.LittleEndian.Uint32(w.Data[(r*w.Cols+c)*4:])) * x[c])
				}
				ys[j][i][r] = float32(s)
			}
		}
	}
	return nil
}

func (f32Kernels) Dequantize(t ggml.Type, src []byte, dst []float32) error {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[i*4:]))
	}
	return nil
}

// Parallel runs the loop sequentially.
func (f32Kernels) Parallel(n, chunk int, fn func(i int)) error {
	for i := range n {
		fn(i)
	}
	return nil
}

// Set is the pure-Go set: attention and swiglu in their reference forms.
func (f32Kernels) Set() *ggml.Kernels { return goKernels }

// goKernels is ggml's pure-Go kernel set.
var goKernels = func() *ggml.Kernels {
	ks, err := ggml.KernelsByName("go")
	if err != nil {
		panic(err)
	}
	return ks
}()

func randomModel(t *testing.T, arch string, seed uint64) *Model {
	t.Helper()
	fam, err := Lookup(arch)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Arch: arch, Family: fam, Layers: 2, Hidden: 32, Heads: 4, KVHeads: 2, HeadDim: 8, ValueDim: 8,
		FFN: 48, Vocab: 50, ContextLength: 64, Eps: 1e-6, RopeBase: 10000, RopeDim: 8, RopeFreqScale: 1}
	r := rand.New(rand.NewPCG(seed, 7))
	mat := func(rows, cols int) Matrix {
		b := make([]byte, rows*cols*4)
		for i := 0; i < len(b); i += 4 {
			binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32(r.NormFloat64()*0.3)))
		}
		return Matrix{Type: ggml.F32, Data: b, Rows: rows, Cols: cols}
	}
	vec := func(n int, mean float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + 0.1*r.NormFloat64())
		}
		return v
	}
	w := Weights{Embedding: mat(cfg.Vocab, cfg.Hidden), OutputNorm: vec(cfg.Hidden, 1)}
	w.Output = w.Embedding
	for range cfg.Layers {
		l := Layer{AttnNorm: vec(32, 1), FFNNorm: vec(32, 1),
			Q: mat(32, 32), K: mat(16, 32), V: mat(16, 32), Out: mat(32, 32),
			FFNGate: mat(48, 32), FFNUp: mat(48, 32), FFNDown: mat(32, 48),
			QBias: vec(32, 0), KBias: vec(16, 0), VBias: vec(16, 0)}
		if fam.QKNorm {
			l.QNorm, l.KNorm = vec(8, 1), vec(8, 1)
		}
		w.Layers = append(w.Layers, l)
	}
	m, err := New(cfg, w, f32Kernels{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBatchEqualsSequential checks that processing a prompt in one batch
// gives the same cache and logits as feeding it a token at a time.
func TestBatchEqualsSequential(t *testing.T) {
	for _, arch := range Supported() {
		t.Run(arch, func(t *testing.T) {
			m := randomModel(t, arch, 1)
			prompt := []int{3, 14, 15, 9, 26, 5, 35}
			batched, _ := m.NewCache(16)
			lb := make([]float32, m.Config.Vocab)
			if err := m.Forward(prompt, batched, lb); err != nil {
				t.Fatal(err)
			}
			seq, _ := m.NewCache(16)
			ls := make([]float32, m.Config.Vocab)
			for _, tok := range prompt {
				if err := m.Forward([]int{tok}, seq, ls); err != nil {
					t.Fatal(err)
				}
			}
			for i := range lb {
				if lb[i] != ls[i] {
					t.Fatalf("logit %d: batched %v, sequential %v", i, lb[i], ls[i])
				}
			}
			if diff := batched.CommonPrefix(seq.Tokens()); diff != len(prompt) {
				t.Errorf("committed tokens differ at %d", diff)
			}
		})
	}
}

func TestForwardErrors(t *testing.T) {
	m := randomModel(t, "qwen2", 2)
	cache, _ := m.NewCache(4)
	logits := make([]float32, m.Config.Vocab)
	if err := m.Forward([]int{1, 2, 3}, cache, logits); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward([]int{4, 5}, cache, logits); !errors.Is(err, kvcache.ErrFull) {
		t.Fatalf("two tokens into one free position: got %v, want ErrFull", err)
	}
	if cache.Len() != 3 {
		t.Errorf("cache length after a refused batch: %d, want 3", cache.Len())
	}
	if err := m.Forward([]int{50}, cache, logits); err == nil {
		t.Error("token 50 of a 50-token vocabulary: no error")
	}
	if err := m.Forward(nil, cache, logits); err == nil {
		t.Error("no tokens: no error")
	}
	if _, err := Lookup("gpt2"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("gpt2: got %v, want ErrUnsupported", err)
	}
	if err := CheckType("x", ggml.Q2_K); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Q2_K: got %v, want ErrUnsupported", err)
	}
}

func TestNewChecksShapes(t *testing.T) {
	m := randomModel(t, "qwen3", 3)
	w := m.W
	w.Layers = append([]Layer(nil), w.Layers...)
	w.Layers[1].K.Rows = 8
	if _, err := New(m.Config, w, f32Kernels{}, 1); !errors.Is(err, ErrBadModel) {
		t.Errorf("wrong attn_k shape: got %v, want ErrBadModel", err)
	}
	w = m.W
	w.Layers = append([]Layer(nil), w.Layers...)
	w.Layers[0].QNorm = nil
	if _, err := New(m.Config, w, f32Kernels{}, 1); !errors.Is(err, ErrBadModel) {
		t.Errorf("qwen3 without attn_q_norm: got %v, want ErrBadModel", err)
	}
}

// TestNewRefusesUnpackablePacked: a matrix marked packed whose type has
// no packed layout here (F32 has none) is refused, not multiplied.
func TestNewRefusesUnpackablePacked(t *testing.T) {
	m := randomModel(t, "qwen2", 4)
	w := m.W
	w.Layers = append([]Layer(nil), w.Layers...)
	w.Layers[0].FFNUp.Packed = true
	if ggml.Packable(w.Layers[0].FFNUp.Type, w.Layers[0].FFNUp.Rows, w.Layers[0].FFNUp.Cols) {
		t.Skip("F32 has a packed layout here")
	}
	if _, err := New(m.Config, w, f32Kernels{}, 1); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a packed F32 ffn_up: got %v, want ErrUnsupported", err)
	}
}

// TestHidden checks Seq.Hidden: the output matrix times it gives the
// logits (so it is the LM head's input), asking for it alone skips the
// head but gives the same vector, and a wrong length is refused.
func TestHidden(t *testing.T) {
	m := randomModel(t, "llama", 5)
	prompt := []int{7, 1, 22, 40}
	c1, _ := m.NewCache(8)
	c2, _ := m.NewCache(8)
	logits := make([]float32, m.Config.Vocab)
	h1 := make([]float32, m.Config.Hidden)
	h2 := make([]float32, m.Config.Hidden)
	if err := m.ForwardBatch([]Seq{{Tokens: prompt, Cache: c1, Logits: logits, Hidden: h1}, {Tokens: prompt, Cache: c2, Hidden: h2}}); err != nil {
		t.Fatal(err)
	}
	out := &m.W.Output
	for r := range out.Rows {
		var dot float64
		for c := range out.Cols {
			dot += float64(math.Float32frombits(binary.LittleEndian.Uint32(out.Data[(r*out.Cols+c)*4:]))) * float64(h1[c])
		}
		if math.Abs(dot-float64(logits[r])) > 1e-4 {
			t.Fatalf("logit %d: W_out·hidden = %v, logits %v", r, dot, logits[r])
		}
	}
	var norm float64
	for i := range h1 {
		if h1[i] != h2[i] {
			t.Fatalf("hidden %d: %v with logits, %v alone", i, h1[i], h2[i])
		}
		norm += float64(h1[i]) * float64(h1[i])
	}
	if norm == 0 {
		t.Fatal("the hidden state is zero")
	}
	if c2.Len() != len(prompt) {
		t.Errorf("a hidden-only sequence committed %d tokens, want %d", c2.Len(), len(prompt))
	}
	if err := m.ForwardBatch([]Seq{{Tokens: []int{1}, Cache: c1, Hidden: make([]float32, 3)}}); err == nil {
		t.Error("a 3-element hidden buffer: no error")
	}
}
