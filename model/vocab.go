package model

import (
	"fmt"

	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/tokenizer"
)

// newTokenizer builds the tokenizer from a file's tokenizer.ggml.* keys.
func newTokenizer(f *gguf.File) (*tokenizer.Tokenizer, error) {
	c := tokenizer.Config{BOS: -1, EOS: -1, EOT: -1, EOM: -1, PAD: -1}
	var ok bool
	if c.Model, ok = metaString(f, "tokenizer.ggml.model"); !ok {
		return nil, fmt.Errorf("tokenizer: the file has no tokenizer.ggml.model")
	}
	c.Pre, _ = metaString(f, "tokenizer.ggml.pre")
	c.Tokens, _ = metaStrings(f, "tokenizer.ggml.tokens")
	c.Merges, _ = metaStrings(f, "tokenizer.ggml.merges")
	c.Types, _ = metaInt32s(f, "tokenizer.ggml.token_type")
	for _, id := range []struct {
		dst *int32
		key string
	}{
		{&c.BOS, "bos_token_id"}, {&c.EOS, "eos_token_id"}, {&c.EOT, "eot_token_id"},
		{&c.EOM, "eom_token_id"}, {&c.PAD, "padding_token_id"},
	} {
		if v, ok := metaUint(f, "tokenizer.ggml."+id.key); ok && v < 1<<31 {
			*id.dst = int32(v)
		}
	}
	c.AddBOS, _ = metaBool(f, "tokenizer.ggml.add_bos_token")
	c.AddEOS, _ = metaBool(f, "tokenizer.ggml.add_eos_token")
	return tokenizer.New(c)
}
