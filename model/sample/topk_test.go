package sample

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestKeepBestMatchesFullSort checks the heap selection against sorting
// the whole vocabulary, ties included.
func TestKeepBestMatchesFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + rng.IntN(500)
		k := 1 + rng.IntN(n)
		c := make([]candidate, n)
		for i := range c {
			// Few distinct values, so ties are common.
			c[i] = candidate{id: i, logit: float32(rng.IntN(20))}
		}
		rng.Shuffle(n, func(i, j int) { c[i], c[j] = c[j], c[i] })
		want := slices.Clone(c)
		sort.Slice(want, func(i, j int) bool { return better(want[i], want[j]) })
		got := keepBest(slices.Clone(c), k)
		sort.Slice(got, func(i, j int) bool { return better(got[i], got[j]) })
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("trial %d (n=%d k=%d): got %v, want %v", trial, n, k, got, want[:k])
		}
	}
}
