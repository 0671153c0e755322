package testmodel

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/chatloop/chatloop/model/ggml"
)

// Matrix is what a Mix sees of a weight matrix: the inputs llama.cpp's
// llama-quantize bases its choice on.
type Matrix struct {
	Name   string // GGUF name: "token_embd.weight", "blk.3.ffn_down.weight"
	Layer  int    // the block's index; -1 outside the blocks
	Layers int    // blocks in the model
	Cols   int    // ne[0], the length of a row: quantization blocks run along it
	Rows   int    // ne[1]
	// Tied: the file has no output.weight, so token_embd is also the
	// output matrix (Qwen2.5 up to 3B).
	Tied bool
}

// Mix chooses the type of each weight matrix, as one of llama-quantize's
// file types (LLAMA_FTYPE_MOSTLY_*) does. 1-D tensors (norms, biases)
// stay F32 whatever the mix.
type Mix struct {
	Name     string // "Q4_K_M", as llama-quantize spells it
	FileType uint32 // general.file_type (enum llama_ftype)
	TypeOf   func(Matrix) ggml.Type
}

// Q4_K_M is llama-quantize's Q4_K_M without an importance matrix, as
// llama_tensor_get_type (src/llama-quant.cpp, llama.cpp as bundled with
// node-llama-cpp 3.22.1, release v0.5.0) chooses for the dense, non-Falcon
// models this package writes:
//
//   - Q4_K by default;
//   - Q6_K for attn_v and ffn_down in the layers use_more_bits picks (the
//     first and last eighth, and every third one between them);
//   - output.weight, and token_embd when the embeddings are tied: Q6_K,
//     or Q8_0 when a row is not a whole number of Q4_K blocks; an untied
//     token_embd follows the default (Q4_K);
//   - then the shape fallback: a row that is not a whole number of 256
//     values turns Q4_K into Q5_0 and Q6_K into Q8_0 (F16 if even 32
//     does not divide it).
//
// On Qwen2.5-0.5B's shapes (hidden 896) this leaves only the 4864-column
// ffn_down in K-quants; on Qwen2.5-1.5B's (hidden 1536) every matrix is.
var Q4_K_M = Mix{Name: "Q4_K_M", FileType: 15, TypeOf: q4KM}

func q4KM(m Matrix) ggml.Type {
	t := ggml.Q4_K
	switch category(m.Name) {
	case catOutput:
		t = outputType(m, t)
	case catTokenEmbd:
		if m.Tied {
			t = outputType(m, t)
		}
	case catAttnV, catFFNDown:
		// llama.cpp counts attn_v (i_attention_wv of n_attention_wv) and
		// ffn_down (i_ffn_down of n_layer) in its tensor order, which sorts
		// by block index: with one of each per block, the count is the
		// block index.
		if useMoreBits(m.Layer, m.Layers) {
			t = ggml.Q6_K
		}
	}
	return fallback(t, m.Cols)
}

// outputType is llama_tensor_get_type_impl's rule for the output matrix
// (and a tied token_embd): Q8_0 if a row is not a whole number of the
// default type's blocks, else Q6_K unless the default is Q8_0.
func outputType(m Matrix, def ggml.Type) ggml.Type {
	if m.Cols%def.BlockSize() != 0 {
		return ggml.Q8_0
	}
	if def != ggml.Q8_0 {
		return ggml.Q6_K
	}
	return def
}

// useMoreBits is llama.cpp's use_more_bits: the first and last eighth of
// the layers and every third layer between them.
func useMoreBits(layer, layers int) bool {
	return layer < layers/8 || layer >= 7*layers/8 || (layer-layers/8)%3 == 2
}

// fallback is llama.cpp's tensor_type_fallback: a type whose blocks do not
// divide a row is replaced by a 32-block type of similar size, and by F16
// when not even that fits.
func fallback(t ggml.Type, cols int) ggml.Type {
	bs := t.BlockSize()
	if bs == 0 || cols%bs == 0 {
		return t
	}
	switch t {
	case ggml.Q2_K, ggml.Q3_K:
		t = ggml.Q4_0
	case ggml.Q4_K:
		t = ggml.Q5_0
	case ggml.Q5_K:
		t = ggml.Q5_1
	case ggml.Q6_K:
		t = ggml.Q8_0
	}
	if cols%t.BlockSize() != 0 {
		return ggml.F16
	}
	return t
}

type tensorCategory int

const (
	catOther tensorCategory = iota
	catTokenEmbd
	catOutput
	catAttnQ
	catAttnK
	catAttnV
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
)

// category is llama.cpp's tensor_get_category for the tensors this
// package writes (matched by substring, in llama.cpp's order).
func category(name string) tensorCategory {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight":
		return catTokenEmbd
	case strings.Contains(name, "attn_v.weight"):
		return catAttnV
	case strings.Contains(name, "attn_k.weight"):
		return catAttnK
	case strings.Contains(name, "attn_q.weight"):
		return catAttnQ
	case strings.Contains(name, "attn_output.weight"):
		return catAttnOutput
	case strings.Contains(name, "ffn_up"):
		return catFFNUp
	case strings.Contains(name, "ffn_gate"):
		return catFFNGate
	case strings.Contains(name, "ffn_down"):
		return catFFNDown
	}
	return catOther
}

// layerOf reads the block index from a "blk.N." name; -1 if there is none.
func layerOf(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	n, _, ok := strings.Cut(rest, ".")
	if !ok {
		return -1
	}
	l, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return l
}

// ParseMix maps a mix name ("Q4_K_M", any case) to its Mix.
func ParseMix(name string) (Mix, error) {
	if strings.EqualFold(name, Q4_K_M.Name) {
		return Q4_K_M, nil
	}
	return Mix{}, fmt.Errorf("testmodel: unknown mix %q (known: %s)", name, Q4_K_M.Name)
}
