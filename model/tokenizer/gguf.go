package tokenizer

import (
	"fmt"
	"math"

	"github.com/chatloop/chatloop/model/gguf"
)

// FromGGUF builds the tokenizer a GGUF file describes in its
// tokenizer.ggml.* keys, with llama.cpp's defaults for absent ones: BOS and
// EOS 11 for a "gpt2" vocabulary without those keys (llama.cpp's GPT-2
// legacy), add_bos_token true for Llama 3's pre-tokenizer and false
// otherwise. The tokenizer copies what it keeps: it does not need f once
// built.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	model, ok := f.String("tokenizer.ggml.model")
	if !ok {
		return nil, fmt.Errorf("%w: no tokenizer.ggml.model in the file", ErrInvalid)
	}
	if model != "gpt2" {
		return nil, fmt.Errorf("%w: tokenizer.ggml.model %q (supported: gpt2)", ErrUnsupported, model)
	}
	pre, ok := f.String("tokenizer.ggml.pre")
	if !ok {
		return nil, fmt.Errorf("%w: no tokenizer.ggml.pre in the file (supported: %s)", ErrUnsupported, supportedPre)
	}
	if _, err := lookupPre(pre); err != nil {
		return nil, err
	}
	c := Config{Model: model, Pre: pre, BOS: 11, EOS: 11, EOT: -1, EOM: -1, PAD: -1}
	if c.Tokens, ok = f.StringsView("tokenizer.ggml.tokens"); !ok {
		return nil, fmt.Errorf("%w: no tokenizer.ggml.tokens string array", ErrInvalid)
	}
	if c.Merges, ok = f.StringsView("tokenizer.ggml.merges"); !ok {
		return nil, fmt.Errorf("%w: no tokenizer.ggml.merges string array", ErrInvalid)
	}
	if _, present := f.Get("tokenizer.ggml.token_type"); present {
		types, ok := f.Ints("tokenizer.ggml.token_type")
		if !ok {
			return nil, fmt.Errorf("%w: tokenizer.ggml.token_type is not an integer array", ErrInvalid)
		}
		c.Types = make([]int32, len(types))
		for i, v := range types {
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, fmt.Errorf("%w: token type %d of token %d", ErrInvalid, v, i)
			}
			c.Types[i] = int32(v)
		}
	}
	for _, k := range []struct {
		key string
		dst *int32
	}{
		{"tokenizer.ggml.bos_token_id", &c.BOS},
		{"tokenizer.ggml.eos_token_id", &c.EOS},
		{"tokenizer.ggml.eot_token_id", &c.EOT},
		{"tokenizer.ggml.eom_token_id", &c.EOM},
		{"tokenizer.ggml.padding_token_id", &c.PAD},
	} {
		if _, present := f.Get(k.key); !present {
			continue
		}
		v, ok := f.Uint(k.key)
		if !ok || v >= uint64(len(c.Tokens)) {
			return nil, fmt.Errorf("%w: %s is not a token id of the %d tokens", ErrInvalid, k.key, len(c.Tokens))
		}
		*k.dst = int32(v)
	}
	if int(c.BOS) >= len(c.Tokens) {
		c.BOS = -1 // llama.cpp disables an out-of-range default
	}
	if int(c.EOS) >= len(c.Tokens) {
		c.EOS = -1
	}
	switch pre {
	case "llama-bpe", "llama3", "llama-v3":
		c.AddBOS = true
	}
	for _, k := range []struct {
		key string
		dst *bool
	}{{"tokenizer.ggml.add_bos_token", &c.AddBOS}, {"tokenizer.ggml.add_eos_token", &c.AddEOS}} {
		if _, present := f.Get(k.key); !present {
			continue
		}
		v, ok := f.Bool(k.key)
		if !ok {
			return nil, fmt.Errorf("%w: %s is not a bool", ErrInvalid, k.key)
		}
		*k.dst = v
	}
	return New(c)
}
