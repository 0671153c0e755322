package gguf_test

import (
	"bytes"
	"fmt"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
)

func Example() {
	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", "llama")
	w.SetUint32("llama.embedding_length", 32)
	w.SetStrings("tokenizer.ggml.tokens", []string{"<s>", "hello"})
	weights := make([]float32, 32*2)
	for i := range weights {
		weights[i] = float32(i) / 64
	}
	if err := w.AddFloats("token_embd.weight", ggml.Q8_0, []uint64{32, 2}, weights); err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		panic(err)
	}

	f, err := gguf.Parse(buf.Bytes()) // gguf.Open(path) maps a file instead
	if err != nil {
		panic(err)
	}
	n, _ := f.Uint("llama.embedding_length")
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	fmt.Println(f.Architecture(), n, tokens)
	t, _ := f.Tensor("token_embd.weight")
	data, _ := f.TensorData(t.Name)
	fmt.Println(t.Name, t.Type, t.Dims, t.Elements(), len(data), "bytes")
	// Output:
	// llama 32 [<s> hello]
	// token_embd.weight Q8_0 [32 2] 64 68 bytes
}
