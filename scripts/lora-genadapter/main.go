// Command lora-genadapter writes a LoRA adapter with random A and B for a
// base GGUF model, in llama.cpp's adapter format (model/lora), for
// benchmarks and experiments:
//
//	go run ./scripts/lora-genadapter -base /tmp/q.gguf -rank 8 -alpha 16 -out /tmp/a.gguf
//
// -targets lists the block tensors to adapt (default: attention q, k, v,
// output and MLP gate, up, down, as chatloop tune does).
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/lora"
)

func main() {
	base := flag.String("base", "", "base GGUF model")
	out := flag.String("out", "", "adapter file to write")
	rank := flag.Int("rank", 8, "rank")
	alpha := flag.Float64("alpha", 16, "alpha")
	targets := flag.String("targets", "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down", "comma-separated block tensors to adapt")
	std := flag.Float64("std", 0.02, "standard deviation of A and B")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*base, *out, *rank, float32(*alpha), strings.Split(*targets, ","), *std, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "lora-genadapter:", err)
		os.Exit(1)
	}
}

func run(base, out string, rank int, alpha float32, targets []string, std float64, seed uint64) error {
	if base == "" || out == "" {
		return fmt.Errorf("-base and -out are required")
	}
	f, err := gguf.Open(base)
	if err != nil {
		return err
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, 1))
	a := &lora.Adapter{Arch: f.Architecture(), Alpha: alpha, Name: "random"}
	for _, t := range f.Tensors {
		if !strings.HasPrefix(t.Name, "blk.") || len(t.Dims) != 2 || !slices.ContainsFunc(targets, func(s string) bool { return strings.HasSuffix(t.Name, "."+s+".weight") }) {
			continue
		}
		p := &lora.Pair{Name: t.Name, In: int(t.Dims[0]), Out: int(t.Dims[1]), Rank: rank}
		p.A, p.B = make([]float32, rank*p.In), make([]float32, p.Out*rank)
		for i := range p.A {
			p.A[i] = float32(rng.NormFloat64() * std)
		}
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64() * std)
		}
		a.Pairs = append(a.Pairs, p)
	}
	if len(a.Pairs) == 0 {
		return fmt.Errorf("no tensor of %s matches %v", base, targets)
	}
	slices.SortFunc(a.Pairs, func(x, y *lora.Pair) int { return strings.Compare(x.Name, y.Name) })
	return lora.Write(out, a)
}
