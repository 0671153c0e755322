package model

import (
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
)

// BenchmarkLoRATerm is the side path of one rank-8 adapter on one
// Qwen2.5-0.5B-shaped ffn_up (896 → 4864) for one token: two thin
// products and the scaled add. A Qwen2.5-0.5B token runs 168 such terms
// (7 per layer, of various shapes).
func BenchmarkLoRATerm(b *testing.B) {
	for _, typ := range []ggml.Type{ggml.F32, ggml.F16} {
		b.Run(typ.String(), func(b *testing.B) {
			const in, out, rank = 896, 4864, 8
			rng := rand.New(rand.NewPCG(1, 2))
			av, bv := make([]float32, rank*in), make([]float32, out*rank)
			for i := range av {
				av[i] = float32(rng.NormFloat64())
			}
			for i := range bv {
				bv[i] = float32(rng.NormFloat64())
			}
			// Values the stored type holds exactly.
			roundTo(typ, av, av)
			roundTo(typ, bv, bv)
			t := loraTerm{typ: typ, a: av, b: bv, in: in, out: out, rank: rank, f: 2}
			x, y := make([]float32, in), make([]float32, out)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			sc := &loraScratch{act: ggml.Activation{Rounding: ggml.RoundRef}}
			for b.Loop() {
				if err := t.apply(x, y, sc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
