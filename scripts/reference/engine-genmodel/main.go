// Command engine-genmodel writes a GGUF model with random weights and the
// real Qwen2.5 vocabulary, for benchmarks against llama.cpp:
//
//	go run ./scripts/reference/engine-genmodel -shape qwen2.5-0.5b -type Q8_0 -out /tmp/q.gguf
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

func main() {
	shape := flag.String("shape", "qwen2.5-0.5b", "qwen2.5-0.5b (real shapes) or tiny-<arch> (qwen2, qwen3, llama)")
	typ := flag.String("type", "Q8_0", "tensor type of the weight matrices")
	out := flag.String("out", "", "output file")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*shape, *typ, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "engine-genmodel:", err)
		os.Exit(1)
	}
}

func run(shape, typ, out string, seed uint64) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	t, err := ggml.ParseType(typ)
	if err != nil {
		return err
	}
	var spec testmodel.Spec
	switch shape {
	case "qwen2.5-0.5b":
		spec = testmodel.Qwen25_05B(t)
		spec.Seed = seed
	case "tiny-qwen2", "tiny-qwen3", "tiny-llama":
		spec = testmodel.Tiny(shape[len("tiny-"):], t, seed)
	default:
		return fmt.Errorf("unknown shape %q", shape)
	}
	return testmodel.WriteFile(out, spec)
}
