package sample

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkSample times one token's sampling from Qwen2's 151,936 logits,
// with this package's sampler ("fast") and the one it replaced, which
// sorted every candidate when top-k was off ("fullsort",
// reference_test.go), on standard normal logits and on model-like ones (a
// broad bulk and a few strong candidates).
func BenchmarkSample(b *testing.B) {
	params := []struct {
		name string
		p    Params
	}{
		{"default", Params{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, Seed: 1}},
		{"topk0-minp0.05", Params{Temperature: 0.7, TopP: 0.9, MinP: 0.05, Seed: 1}},
		{"topk0-minp0", Params{Temperature: 0.7, TopP: 0.9, Seed: 1}},
		{"topk0-temperature-only", Params{Temperature: 0.7, Seed: 1}},
		{"topk5000-minp0.05", Params{Temperature: 0.7, TopK: 5000, TopP: 0.9, MinP: 0.05, Seed: 1}},
	}
	for _, kind := range logitKinds[:2] {
		logits := kind.gen(rand.New(rand.NewPCG(3, 4)), 151936)
		work := make([]float32, len(logits))
		for _, pp := range params {
			fast, ref := New(pp.p), newRef(pp.p)
			for _, impl := range []struct {
				name   string
				sample func([]float32, []int) int
			}{{"fast", fast.Sample}, {"fullsort", ref.Sample}} {
				b.Run(kind.name+"/"+pp.name+"/"+impl.name, func(b *testing.B) {
					copy(work, logits)
					impl.sample(work, nil) // grow the buffers
					for b.Loop() {
						copy(work, logits)
						impl.sample(work, nil)
					}
				})
			}
		}
	}
}
