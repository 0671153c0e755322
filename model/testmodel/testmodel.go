// Package testmodel writes small GGUF models with seeded random weights,
// real tokenizer vocabularies and the tensor names and metadata llama.cpp
// expects, so that tests (and the reference scripts that run llama.cpp on
// the very same files) need no downloaded weights.
package testmodel

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/internal/vocabdata"
)

// Spec describes a model to write.
type Spec struct {
	Arch    string    // "qwen2", "qwen3" or "llama"
	Type    ggml.Type // type of the 2-D weight matrices, embedding included (without Mix)
	Layers  int
	Hidden  int
	Heads   int
	KVHeads int
	HeadDim int // 0: Hidden/Heads (qwen3 files state it explicitly)
	FFN     int
	Context int // trained context length; 0: 4096
	// Vocab is vocabdata.Qwen2 or vocabdata.Llama3; nil: Qwen2.
	Vocab func() (*vocabdata.Vocab, error)
	Seed  uint64
	// Untied writes a separate output.weight (Tiny does for llama);
	// otherwise the output reuses token_embd, as Qwen2.5's small models do.
	Untied bool
	// RopeFreqs adds llama3-style rope_freqs factors (llama only).
	RopeFreqs bool
	// EmbedQ8 stores token_embd (and output) in Q8_0 whatever Type or Mix
	// is (llama-quantize's --token-embedding-type q8_0 --output-tensor-type
	// q8_0), which keeps files with large types or slow quantizers quick
	// to write.
	EmbedQ8 bool
	// OutputNormScale scales output_norm.weight (0 means 1). A random
	// model's logits spread over tens of nats, so sampling from it is
	// nearly greedy; 0.1 flattens them enough that sampled answers differ
	// (tests that need regenerations to differ use it).
	OutputNormScale float64
	// Mix, when set, chooses each weight matrix's type as llama-quantize's
	// file type of that name does (Q4_K_M); Type is then unused.
	Mix *Mix
}

// Tiny returns a 2-layer spec of arch with tensors of type t, shaped so
// that every row is a whole number of t's blocks (256 for the K-quants).
func Tiny(arch string, t ggml.Type, seed uint64) Spec {
	s := Spec{Arch: arch, Type: t, Layers: 2, Hidden: 64, Heads: 4, KVHeads: 2, FFN: 128, Seed: seed}
	if t.BlockSize() == ggml.QK_K {
		// Rows of 256; the 151936-row embedding in Q8_0, as in llama.cpp's
		// Q4_K_M of Qwen2.5-0.5B, keeps the file quick to write and read.
		s.Hidden, s.FFN, s.EmbedQ8 = 256, 512, true
	}
	switch arch {
	case "qwen3":
		s.HeadDim = 2 * s.Hidden / s.Heads // q dim differs from hidden, as in Qwen3
	case "llama":
		s.Vocab, s.Untied, s.RopeFreqs = vocabdata.Llama3, true, true
	}
	return s
}

// Qwen25_05B is the real shape of Qwen2.5-0.5B-Instruct with tensors of
// type t (random weights; for benchmarks: the file is 0.5–2 GB).
func Qwen25_05B(t ggml.Type) Spec {
	return Spec{Arch: "qwen2", Type: t, Layers: 24, Hidden: 896, Heads: 14, KVHeads: 2, FFN: 4864, Context: 32768, Seed: 1}
}

// Qwen25_15B is the real shape of Qwen2.5-1.5B-Instruct (28 layers, hidden
// 1536, 12 heads, 2 KV heads, FFN 8960, tied embeddings) with tensors of
// type t: every row is a whole number of K-quant blocks, so a Q4_K_M mix
// of it is all K-quants (the file is 1–3 GB).
func Qwen25_15B(t ggml.Type) Spec {
	return Spec{Arch: "qwen2", Type: t, Layers: 28, Hidden: 1536, Heads: 12, KVHeads: 2, FFN: 8960, Context: 32768, Seed: 1}
}

// TinyMix returns a 2-layer qwen2 spec in mix m, shaped so that the mix's
// rules and its shape fallback both apply: rows of 256 (hidden, attention)
// take the mix's K-quants, the 288-column ffn_down falls back to a 32-block
// type, and layer 1 of 2 gets the extra bits of use_more_bits. The
// embedding is Q8_0 (as EmbedQ8), which keeps the file quick to write.
func TinyMix(m Mix, seed uint64) Spec {
	return Spec{Arch: "qwen2", Mix: &m, Layers: 2, Hidden: 256, Heads: 4, KVHeads: 2, FFN: 288, Seed: seed, EmbedQ8: true}
}

// TypeName is the name of the spec's tensor types: the mix's name
// ("Q4_K_M") or the uniform type's ("Q8_0").
func (s Spec) TypeName() string {
	if s.Mix != nil {
		return s.Mix.Name
	}
	return s.Type.String()
}

// Write writes the model to a file in tb's temporary directory and
// returns its path.
func Write(tb testing.TB, s Spec) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), fmt.Sprintf("%s-%s.gguf", s.Arch, s.TypeName()))
	if err := WriteFile(path, s); err != nil {
		tb.Fatal(err)
	}
	return path
}

// fileType maps a tensor type to llama.cpp's general.file_type.
var fileType = map[ggml.Type]uint32{
	ggml.F32: 0, ggml.F16: 1, ggml.Q4_0: 2, ggml.Q4_1: 3, ggml.Q8_0: 7, ggml.Q5_0: 8, ggml.Q5_1: 9,
	ggml.Q4_K: 15, ggml.Q5_K: 17, ggml.Q6_K: 18, ggml.BF16: 32,
}

// ErrShape reports a uniform tensor type whose blocks do not divide the
// rows of a matrix of the spec (a mix falls back instead, as llama.cpp
// does).
var ErrShape = errors.New("testmodel: rows are not a whole number of the type's blocks")

// Tensor is one tensor of the file a Spec describes.
type Tensor struct {
	Name string
	Type ggml.Type
	Dims []uint64 // ne[0] (the row length) first
}

// planned is a Tensor and how to draw its values: normal(mean, std), or
// fixed values.
type planned struct {
	Tensor
	mean, std float64
	fixed     []float32
}

func (p planned) elements() int {
	n := 1
	for _, d := range p.Dims {
		n *= int(d)
	}
	return n
}

// Tensors lists the tensors WriteFile writes for s, in file order, with
// the types they get (from s.Mix, or s.Type).
func Tensors(s Spec) ([]Tensor, error) {
	s, vocab, err := s.normalize()
	if err != nil {
		return nil, err
	}
	plan, err := s.plan(len(vocab.Tokens))
	if err != nil {
		return nil, err
	}
	out := make([]Tensor, len(plan))
	for i, p := range plan {
		out[i] = p.Tensor
	}
	return out, nil
}

// CountTypes counts tensors by type name ("F32", "Q5_0"...).
func CountTypes(ts []Tensor) map[string]int {
	n := map[string]int{}
	for _, t := range ts {
		n[t.Type.String()]++
	}
	return n
}

// normalize fills in the spec's defaults and loads its vocabulary.
func (s Spec) normalize() (Spec, *vocabdata.Vocab, error) {
	if s.Vocab == nil {
		s.Vocab = vocabdata.Qwen2
	}
	if s.HeadDim == 0 && s.Heads > 0 {
		s.HeadDim = s.Hidden / s.Heads
	}
	if s.Context == 0 {
		s.Context = 4096
	}
	vocab, err := s.Vocab()
	if err != nil {
		return s, nil, fmt.Errorf("testmodel: %w", err)
	}
	return s, vocab, nil
}

// plan lays out the file's tensors in order. The order is also the order
// in which WriteFile draws their random values, so it must not change:
// golden fixtures depend on the bytes.
func (s Spec) plan(nVocab int) ([]planned, error) {
	var plan []planned
	layers := s.Layers
	// matrix places a rows×cols weight matrix (ne = [cols, rows]) of the
	// mix's or the uniform type, with values of the given std.
	matrix := func(name string, rows, cols int, std float64) error {
		m := Matrix{Name: name, Layer: layerOf(name), Layers: layers, Cols: cols, Rows: rows, Tied: !s.Untied}
		t := s.Type
		if s.Mix != nil {
			t = s.Mix.TypeOf(m)
		} else if bs := t.BlockSize(); bs == 0 || cols%bs != 0 {
			return fmt.Errorf("%w: %s has rows of %d, %s blocks of %d", ErrShape, name, cols, t, bs)
		}
		if s.EmbedQ8 && (name == "token_embd.weight" || name == "output.weight") {
			t = ggml.Q8_0
		}
		plan = append(plan, planned{Tensor: Tensor{Name: name, Type: t, Dims: []uint64{uint64(cols), uint64(rows)}}, std: std})
		return nil
	}
	// mat is a matrix with a gain that keeps activations of order one, so
	// that logits spread and greedy choices are far from ties.
	mat := func(name string, rows, cols int, gain float64) error {
		return matrix(name, rows, cols, gain/math.Sqrt(float64(cols)))
	}
	vec := func(name string, n int, mean, std float64) {
		plan = append(plan, planned{Tensor: Tensor{Name: name, Type: ggml.F32, Dims: []uint64{uint64(n)}}, mean: mean, std: std})
	}
	qDim, kvDim := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	if err := matrix("token_embd.weight", nVocab, s.Hidden, 1); err != nil {
		return nil, err
	}
	outScale := s.OutputNormScale
	if outScale == 0 {
		outScale = 1
	}
	vec("output_norm.weight", s.Hidden, outScale, 0.1*outScale)
	if s.Untied {
		if err := matrix("output.weight", nVocab, s.Hidden, 4/math.Sqrt(float64(s.Hidden))); err != nil {
			return nil, err
		}
	}
	if s.RopeFreqs {
		f := make([]float32, s.HeadDim/2)
		for i := range f {
			f[i] = 1 + float32(i)*8/float32(len(f)) // like llama3's 1..8 ramp
		}
		plan = append(plan, planned{Tensor: Tensor{Name: "rope_freqs.weight", Type: ggml.F32, Dims: []uint64{uint64(len(f))}}, fixed: f})
	}
	for l := range s.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		vec(p+"attn_norm.weight", s.Hidden, 1, 0.1)
		for _, m := range []struct {
			name       string
			rows, cols int
		}{
			{"attn_q.weight", qDim, s.Hidden},
			{"attn_k.weight", kvDim, s.Hidden},
			{"attn_v.weight", kvDim, s.Hidden},
			{"attn_output.weight", s.Hidden, qDim},
		} {
			if err := mat(p+m.name, m.rows, m.cols, 1); err != nil {
				return nil, err
			}
		}
		vec(p+"ffn_norm.weight", s.Hidden, 1, 0.1)
		for _, m := range []struct {
			name       string
			rows, cols int
		}{
			{"ffn_gate.weight", s.FFN, s.Hidden},
			{"ffn_up.weight", s.FFN, s.Hidden},
			{"ffn_down.weight", s.Hidden, s.FFN},
		} {
			if err := mat(p+m.name, m.rows, m.cols, 1); err != nil {
				return nil, err
			}
		}
		switch s.Arch {
		case "qwen2":
			vec(p+"attn_q.bias", qDim, 0, 0.1)
			vec(p+"attn_k.bias", kvDim, 0, 0.1)
			vec(p+"attn_v.bias", kvDim, 0, 0.1)
		case "qwen3":
			vec(p+"attn_q_norm.weight", s.HeadDim, 1, 0.1)
			vec(p+"attn_k_norm.weight", s.HeadDim, 1, 0.1)
		}
	}
	return plan, nil
}

// WriteFile writes the model described by s to path. The same spec always
// gives the same bytes.
func WriteFile(path string, s Spec) error {
	s, vocab, err := s.normalize()
	if err != nil {
		return err
	}
	nVocab := len(vocab.Tokens)
	plan, err := s.plan(nVocab)
	if err != nil {
		return err
	}
	w := gguf.NewWriter(3, 0)
	a := s.Arch
	w.SetString("general.architecture", a)
	w.SetString("general.name", fmt.Sprintf("chatloop-test-%s-%s", a, s.TypeName()))
	if s.Mix != nil {
		w.SetUint32("general.file_type", s.Mix.FileType)
	} else if ft, ok := fileType[s.Type]; ok {
		w.SetUint32("general.file_type", ft)
	}
	w.SetUint32(a+".block_count", uint32(s.Layers))
	w.SetUint32(a+".context_length", uint32(s.Context))
	w.SetUint32(a+".embedding_length", uint32(s.Hidden))
	w.SetUint32(a+".feed_forward_length", uint32(s.FFN))
	w.SetUint32(a+".attention.head_count", uint32(s.Heads))
	w.SetUint32(a+".attention.head_count_kv", uint32(s.KVHeads))
	w.SetFloat32(a+".attention.layer_norm_rms_epsilon", 1e-6)
	base := float32(1e6)
	if a == "llama" {
		base = 500000
		w.SetUint32(a+".rope.dimension_count", uint32(s.HeadDim))
		w.SetUint32(a+".vocab_size", uint32(nVocab))
	}
	w.SetFloat32(a+".rope.freq_base", base)
	if a == "qwen3" || s.HeadDim != s.Hidden/s.Heads {
		w.SetUint32(a+".attention.key_length", uint32(s.HeadDim))
		w.SetUint32(a+".attention.value_length", uint32(s.HeadDim))
	}
	if err := vocab.WriteGGUF(w); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}

	r := rand.New(rand.NewPCG(s.Seed, 0x636861746c6f6f70))
	for _, p := range plan {
		vals := p.fixed
		if vals == nil {
			vals = make([]float32, p.elements())
			for i := range vals {
				vals[i] = float32(p.mean + p.std*r.NormFloat64())
			}
		}
		data, err := quantizeRows(p.Type, vals, int(p.Dims[0]))
		if err != nil {
			return fmt.Errorf("testmodel: %s: %w", p.Name, err)
		}
		if err := w.AddTensor(p.Name, p.Type, p.Dims, data); err != nil {
			return fmt.Errorf("testmodel: %s: %w", p.Name, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	// WriteTo rather than WriteFile: test files need no fsync.
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	if _, err := w.WriteTo(out); err != nil {
		out.Close()
		return fmt.Errorf("testmodel: writing %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("testmodel: writing %s: %w", path, err)
	}
	return nil
}

// quantizeRows quantizes vals (rows of cols values) into t, splitting
// large tensors by rows across the CPUs. Blocks are independent, so the
// bytes are those of one ggml.Quantize call.
func quantizeRows(t ggml.Type, vals []float32, cols int) ([]byte, error) {
	const parallelAbove = 1 << 20
	if len(vals) < parallelAbove {
		return ggml.Quantize(t, vals)
	}
	return quantizeSplit(t, vals, cols, runtime.GOMAXPROCS(0))
}

// quantizeSplit quantizes vals (rows of cols values) into t in one
// goroutine per run of whole rows, for up to workers runs, and joins the
// parts; fewer than two workers, or rows, quantize in one call.
func quantizeSplit(t ggml.Type, vals []float32, cols, workers int) ([]byte, error) {
	rows := len(vals) / max(cols, 1)
	if workers < 2 || rows < workers || rows*cols != len(vals) {
		return ggml.Quantize(t, vals)
	}
	per := (rows + workers - 1) / workers
	parts := make([][]byte, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		lo, hi := min(i*per, rows), min((i+1)*per, rows)
		wg.Go(func() {
			parts[i], errs[i] = ggml.Quantize(t, vals[lo*cols:hi*cols])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return bytes.Join(parts, nil), nil
}
