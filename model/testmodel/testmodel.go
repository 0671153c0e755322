// Package testmodel writes small GGUF models with seeded random weights,
// real tokenizer vocabularies and the tensor names and metadata llama.cpp
// expects, so that tests (and the reference scripts that run llama.cpp on
// the very same files) need no downloaded weights.
package testmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/internal/vocabdata"
)

// Spec describes a model to write.
type Spec struct {
	Arch    string    // "qwen2", "qwen3" or "llama"
	Type    ggml.Type // type of the 2-D weight matrices, embedding included
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
	// EmbedQ8 stores token_embd (and output) in Q8_0 whatever Type is,
	// which keeps files with large types or slow quantizers quick to write.
	EmbedQ8 bool
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

// Write writes the model to a file in tb's temporary directory and
// returns its path.
func Write(tb testing.TB, s Spec) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), fmt.Sprintf("%s-%s.gguf", s.Arch, s.Type))
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

// WriteFile writes the model described by s to path. The same spec always
// gives the same bytes.
func WriteFile(path string, s Spec) error {
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
		return fmt.Errorf("testmodel: %w", err)
	}
	nVocab := len(vocab.Tokens)
	w := gguf.NewWriter(3, 0)
	a := s.Arch
	w.SetString("general.architecture", a)
	w.SetString("general.name", fmt.Sprintf("chatloop-test-%s-%s", a, s.Type))
	if ft, ok := fileType[s.Type]; ok {
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
	add := func(name string, t ggml.Type, vals []float32, dims ...uint64) error {
		data, err := ggml.Quantize(t, vals)
		if err != nil {
			return fmt.Errorf("testmodel: %s: %w", name, err)
		}
		if err := w.AddTensor(name, t, dims, data); err != nil {
			return fmt.Errorf("testmodel: %s: %w", name, err)
		}
		return nil
	}
	normal := func(n int, mean, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + std*r.NormFloat64())
		}
		return v
	}
	// A matrix with rows×cols and a gain that keeps activations of order
	// one, so that logits spread and greedy choices are far from ties.
	mat := func(name string, rows, cols int, gain float64) error {
		return add(name, s.Type, normal(rows*cols, 0, gain/math.Sqrt(float64(cols))), uint64(cols), uint64(rows))
	}
	vec := func(name string, n int, mean, std float64) error {
		return add(name, ggml.F32, normal(n, mean, std), uint64(n))
	}
	qDim, kvDim := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	embType := s.Type
	if s.EmbedQ8 {
		embType = ggml.Q8_0
	}
	if err := add("token_embd.weight", embType, normal(nVocab*s.Hidden, 0, 1), uint64(s.Hidden), uint64(nVocab)); err != nil {
		return err
	}
	if err := vec("output_norm.weight", s.Hidden, 1, 0.1); err != nil {
		return err
	}
	if s.Untied {
		if err := add("output.weight", embType, normal(nVocab*s.Hidden, 0, 4/math.Sqrt(float64(s.Hidden))), uint64(s.Hidden), uint64(nVocab)); err != nil {
			return err
		}
	}
	if s.RopeFreqs {
		f := make([]float32, s.HeadDim/2)
		for i := range f {
			f[i] = 1 + float32(i)*8/float32(len(f)) // like llama3's 1..8 ramp
		}
		if err := add("rope_freqs.weight", ggml.F32, f, uint64(len(f))); err != nil {
			return err
		}
	}
	for l := range s.Layers {
		p := fmt.Sprintf("blk.%d.", l)
		steps := []func() error{
			func() error { return vec(p+"attn_norm.weight", s.Hidden, 1, 0.1) },
			func() error { return mat(p+"attn_q.weight", qDim, s.Hidden, 1) },
			func() error { return mat(p+"attn_k.weight", kvDim, s.Hidden, 1) },
			func() error { return mat(p+"attn_v.weight", kvDim, s.Hidden, 1) },
			func() error { return mat(p+"attn_output.weight", s.Hidden, qDim, 1) },
			func() error { return vec(p+"ffn_norm.weight", s.Hidden, 1, 0.1) },
			func() error { return mat(p+"ffn_gate.weight", s.FFN, s.Hidden, 1) },
			func() error { return mat(p+"ffn_up.weight", s.FFN, s.Hidden, 1) },
			func() error { return mat(p+"ffn_down.weight", s.Hidden, s.FFN, 1) },
		}
		if a == "qwen2" {
			steps = append(steps,
				func() error { return vec(p+"attn_q.bias", qDim, 0, 0.1) },
				func() error { return vec(p+"attn_k.bias", kvDim, 0, 0.1) },
				func() error { return vec(p+"attn_v.bias", kvDim, 0, 0.1) })
		}
		if a == "qwen3" {
			steps = append(steps,
				func() error { return vec(p+"attn_q_norm.weight", s.HeadDim, 1, 0.1) },
				func() error { return vec(p+"attn_k_norm.weight", s.HeadDim, 1, 0.1) })
		}
		for _, f := range steps {
			if err := f(); err != nil {
				return err
			}
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
