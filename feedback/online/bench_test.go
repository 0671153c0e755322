package online

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkSample measures one sampled answer of up to 32 tokens to a
// prompt (about 20 tokens) on the tiny model with a rank-4 adapter: the
// engine's decoder (the prompt run once, then one token per pass; what
// the rounds use) against recomputing the whole sequence with the
// training model for every token (what they used before).
func BenchmarkSample(b *testing.B) {
	e, m := tinyPolicy(b)
	ad := testAdapter(b, m)
	prompt := prompts(1, 0)[0]
	o := Options{MaxTokens: 32, Temperature: 1}
	b.Run("decoder", func(b *testing.B) {
		s := &sampler{m: m, e: e, o: o}
		rng := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := s.sample(context.Background(), prompt, ad, rng); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("recompute", func(b *testing.B) {
		s := &sampler{m: m, e: e, o: o}
		rng := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if _, err := sampleRecompute(s, prompt, ad, rng); err != nil {
				b.Fatal(err)
			}
		}
	})
}
