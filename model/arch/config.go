// Package arch holds the transformer forward pass of the architectures
// chatloop runs (qwen2, qwen3, llama), chosen by a GGUF file's
// general.architecture. They differ in a handful of switches (QKV bias,
// per-head q/k norm, RoPE layout, rope frequency factors), so one package
// holds them: each family registers a Family value (its switches, tensor
// names, metadata keys and chat-template fallback) from its own file
// (qwen2.go, qwen3.go, llama.go), and the forward pass reads the switches.
//
// The arithmetic mirrors llama.cpp's CPU backend where rounding matters:
// RMSNorm sums squares in float64, RoPE angles are accumulated in float32,
// keys and values are kept in F16, queries and softmax probabilities are
// rounded to F16 before their dot products with the cache, softmax sums in
// float64, and matrix products go through ggml-style kernels that convert
// the activation to the weight type's dot-product type.
package arch

import (
	"fmt"
	"strings"

	"github.com/chatloop/chatloop/model/ggml"
)

// SupportedTypes are the tensor types the engine multiplies: those with a
// kernel in ggml's per-type records.
var SupportedTypes = ggml.MatMulTypes()

// CheckType returns an error listing the supported types when t is not
// one of them.
func CheckType(name string, t ggml.Type) error {
	for _, s := range SupportedTypes {
		if s == t {
			return nil
		}
	}
	names := make([]string, len(SupportedTypes))
	for i, s := range SupportedTypes {
		names[i] = s.String()
	}
	return fmt.Errorf("%w: tensor %s has type %s; chatloop reads %s", ErrUnsupported, name, t, strings.Join(names, ", "))
}

// Config holds the hyperparameters of a model.
type Config struct {
	Arch   string
	Family Family

	Layers        int
	Hidden        int // embedding length
	Heads         int
	KVHeads       int
	HeadDim       int // key/query head size
	ValueDim      int // value head size (usually HeadDim)
	FFN           int
	Vocab         int
	ContextLength int // the length the model was trained for

	Eps float32 // RMSNorm epsilon

	RopeBase      float32
	RopeDim       int     // rotated dimensions per head (<= HeadDim)
	RopeFreqScale float32 // 1/linear scaling factor; 1 when unscaled
}

// Validate checks that the shapes fit together.
func (c *Config) Validate() error {
	switch {
	case c.Layers <= 0, c.Hidden <= 0, c.Heads <= 0, c.KVHeads <= 0, c.HeadDim <= 0, c.ValueDim <= 0, c.FFN <= 0, c.Vocab <= 0:
		return fmt.Errorf("%w: layers %d, hidden %d, heads %d, kv heads %d, head dim %d/%d, ffn %d, vocab %d must all be positive",
			ErrBadModel, c.Layers, c.Hidden, c.Heads, c.KVHeads, c.HeadDim, c.ValueDim, c.FFN, c.Vocab)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("%w: %d heads are not a multiple of %d kv heads", ErrBadModel, c.Heads, c.KVHeads)
	case c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0:
		return fmt.Errorf("%w: rope dimension %d must be even and at most the head size %d", ErrBadModel, c.RopeDim, c.HeadDim)
	case !(c.Eps > 0):
		return fmt.Errorf("%w: rms norm epsilon %v must be positive", ErrBadModel, c.Eps)
	case !(c.RopeBase > 0) || !(c.RopeFreqScale > 0):
		return fmt.Errorf("%w: rope base %v and frequency scale %v must be positive", ErrBadModel, c.RopeBase, c.RopeFreqScale)
	}
	return nil
}
