package reward

import (
	"context"
	"math/rand/v2"
	"testing"
)

// benchSet is 1,000 pairs of dim-dimensional vectors ranked by a hidden
// linear rule with 10% label noise.
func benchSet(dim int) (FeatureSet, Backbone) {
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]float64, dim)
	for i := range w {
		w[i] = r.NormFloat64()
	}
	vec := func() ([]float32, float64) {
		x := make([]float32, dim)
		var s float64
		for i := range x {
			x[i] = float32(r.NormFloat64())
			s += w[i] * float64(x[i])
		}
		return x, s
	}
	set := FeatureSet{Dim: dim}
	for i := range 1000 {
		a, sa := vec()
		b, sb := vec()
		if sa < sb != (r.Float64() < 0.1) {
			a, b = b, a
		}
		set.Pairs = append(set.Pairs, FeaturePair{Chosen: a, Rejected: b, Group: string(rune(i))})
	}
	return set, Backbone{SHA256: "x", Dim: dim, Feature: "bench"}
}

// BenchmarkTrain1000Pairs trains a head on 1,000 pairs for 20 epochs
// (no early stop), at Qwen2.5-0.5B's hidden size (896) and Qwen2.5-7B's
// (3584); run with -cpu 2 for the 2-core figure.
func BenchmarkTrain1000Pairs(b *testing.B) {
	for _, c := range []struct {
		name        string
		dim, hidden int
	}{{"linear-896", 896, 0}, {"hidden64-896", 896, 64}, {"linear-3584", 3584, 0}} {
		b.Run(c.name, func(b *testing.B) {
			set, bb := benchSet(c.dim)
			for b.Loop() {
				if _, _, err := Train(context.Background(), set, bb, TrainOptions{Seed: 1, Epochs: 20, Hidden: c.hidden, Patience: -1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
