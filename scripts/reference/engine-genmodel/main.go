// Command engine-genmodel writes a GGUF model with random weights and the
// real Qwen2.5 vocabulary, for benchmarks against llama.cpp:
//
//	go run ./scripts/reference/engine-genmodel -shape qwen2.5-0.5b -type Q8_0 -out /tmp/q.gguf
//	go run ./scripts/reference/engine-genmodel -shape qwen2.5-1.5b -type Q4_K_M -out /tmp/q.gguf
//
// -type is a ggml tensor type (Q8_0, F16, Q4_K...) for every matrix, or
// Q4_K_M for the types llama-quantize's Q4_K_M would give each tensor.
// The per-type tensor counts go to standard error, as llama.cpp prints
// them when it loads a file.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

func main() {
	shape := flag.String("shape", "qwen2.5-0.5b", "qwen2.5-0.5b, qwen2.5-1.5b (real shapes) or tiny-<arch> (qwen2, qwen3, llama)")
	typ := flag.String("type", "Q8_0", "tensor type of the weight matrices, or the mix Q4_K_M")
	out := flag.String("out", "", "output file")
	seed := flag.Uint64("seed", 1, "random seed")
	dry := flag.Bool("n", false, "print the tensor types only, write nothing")
	stats := flag.String("stats", "", `also write {"counts": {type: n}, "weight_bytes": n, "bytes_per_token": n} to this file`)
	flag.Parse()
	if err := run(*shape, *typ, *out, *seed, *dry, *stats, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "engine-genmodel:", err)
		os.Exit(1)
	}
}

func run(shape, typ, out string, seed uint64, dry bool, stats string, log io.Writer) error {
	if out == "" && !dry {
		return fmt.Errorf("-out is required")
	}
	var mix *testmodel.Mix
	t, err := ggml.ParseType(typ)
	if err != nil {
		m, merr := testmodel.ParseMix(typ)
		if merr != nil {
			return fmt.Errorf("-type %q is neither a tensor type nor a mix", typ)
		}
		mix, t = &m, ggml.Q4_K
	}
	var spec testmodel.Spec
	switch shape {
	case "qwen2.5-0.5b":
		spec = testmodel.Qwen25_05B(t)
		spec.Seed = seed
	case "qwen2.5-1.5b":
		spec = testmodel.Qwen25_15B(t)
		spec.Seed = seed
	case "tiny-qwen2", "tiny-qwen3", "tiny-llama":
		if mix != nil {
			if shape != "tiny-qwen2" {
				return fmt.Errorf("the tiny mix model is qwen2 only")
			}
			spec = testmodel.TinyMix(*mix, seed)
		} else {
			spec = testmodel.Tiny(shape[len("tiny-"):], t, seed)
		}
	default:
		return fmt.Errorf("unknown shape %q", shape)
	}
	spec.Mix = mix
	tensors, err := testmodel.Tensors(spec)
	if err != nil {
		return err
	}
	counts := testmodel.CountTypes(tensors)
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, counts[n])
	}
	weights, perToken, err := weightBytes(tensors)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "%s %s: %d tensors: %s; %.1f MiB of weights, %.1f MiB read per generated token\n",
		shape, spec.TypeName(), len(tensors), strings.Join(parts, ", "), float64(weights)/(1<<20), float64(perToken)/(1<<20))
	if stats != "" {
		b, err := json.Marshal(map[string]any{"shape": shape, "type": spec.TypeName(), "counts": counts, "weight_bytes": weights, "bytes_per_token": perToken})
		if err != nil {
			return err
		}
		if err := os.WriteFile(stats, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if dry {
		for _, t := range tensors {
			fmt.Fprintf(log, "%-28s %-5s %v\n", t.Name, t.Type, t.Dims)
		}
		return nil
	}
	return testmodel.WriteFile(out, spec)
}

// weightBytes sums the tensors' sizes, and the bytes one generated token
// reads: every tensor once, except that of token_embd only one row when a
// separate output.weight exists (tied, it is the output matrix too).
func weightBytes(ts []testmodel.Tensor) (total, perToken int64, err error) {
	tied := !slices.ContainsFunc(ts, func(t testmodel.Tensor) bool { return t.Name == "output.weight" })
	for _, t := range ts {
		n := int64(1)
		for _, d := range t.Dims {
			n *= int64(d)
		}
		size, err := t.Type.RowSize(n)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", t.Name, err)
		}
		total += size
		if t.Name == "token_embd.weight" && !tied {
			size /= int64(t.Dims[1])
		}
		perToken += size
	}
	return total, perToken, nil
}
