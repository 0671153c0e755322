package sample

import (
	"math"
	"math/rand/v2"
	"testing"
)

func logitsOf(probs ...float64) []float32 {
	l := make([]float32, len(probs))
	for i, p := range probs {
		l[i] = float32(math.Log(p))
	}
	return l
}

func frequencies(t *testing.T, p Params, probs []float64, n int) []float64 {
	t.Helper()
	s := New(p)
	counts := make([]float64, len(probs))
	for range n {
		id := s.Sample(logitsOf(probs...), nil)
		counts[id]++
	}
	for i := range counts {
		counts[i] /= float64(n)
	}
	return counts
}

func TestDistributions(t *testing.T) {
	probs := []float64{0.5, 0.3, 0.15, 0.05}
	tests := []struct {
		name string
		p    Params
		want []float64
	}{
		{"temperature 1", Params{Temperature: 1, Seed: 1}, []float64{0.5, 0.3, 0.15, 0.05}},
		{"top-k 2", Params{Temperature: 1, TopK: 2, Seed: 2}, []float64{0.625, 0.375, 0, 0}},
		{"top-p 0.8 keeps the first two", Params{Temperature: 1, TopP: 0.8, Seed: 3}, []float64{0.625, 0.375, 0, 0}},
		{"top-p 0.81 keeps three", Params{Temperature: 1, TopP: 0.81, Seed: 3}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		{"min-p 0.29 keeps 0.15", Params{Temperature: 1, MinP: 0.29, Seed: 4}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		{"min-p 0.31 drops 0.15", Params{Temperature: 1, MinP: 0.31, Seed: 4}, []float64{0.625, 0.375, 0, 0}},
		// p^2 normalised: .25, .09, .0225, .0025 / .365
		{"temperature 0.5 sharpens", Params{Temperature: 0.5, Seed: 5}, []float64{0.25 / 0.365, 0.09 / 0.365, 0.0225 / 0.365, 0.0025 / 0.365}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := frequencies(t, tt.p, probs, 40000)
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 0.012 {
					t.Errorf("token %d: got frequency %.4f, want %.4f (all %v)", i, got[i], tt.want[i], got)
				}
				if tt.want[i] == 0 && got[i] != 0 {
					t.Errorf("token %d: got frequency %.4f, want never", i, got[i])
				}
			}
		})
	}
}

func TestGreedyAndEdgeCases(t *testing.T) {
	l := []float32{0.1, 3, 3, -1}
	if got := New(Params{}).Sample(append([]float32(nil), l...), nil); got != 1 {
		t.Errorf("greedy: got %d, want 1 (first of the tied maxima)", got)
	}
	// Tiny top-p still keeps the best token; top-k 1 is greedy.
	for _, p := range []Params{{Temperature: 1, TopP: 1e-9}, {Temperature: 5, TopK: 1}, {Temperature: 1, MinP: 0.999}} {
		s := New(p)
		for range 100 {
			if got := s.Sample([]float32{0, 2, 1}, nil); got != 1 {
				t.Fatalf("%+v: got %d, want 1", p, got)
			}
		}
	}
	// -Inf logits are never sampled.
	s := New(Params{Temperature: 10, Seed: 9})
	for range 1000 {
		if got := s.Sample([]float32{float32(math.Inf(-1)), 0, float32(math.Inf(-1))}, nil); got != 1 {
			t.Fatalf("sampled a -Inf token %d", got)
		}
	}
	if got := New(Params{}).Sample(nil, nil); got != -1 {
		t.Errorf("empty logits: got %d, want -1", got)
	}
}

func TestSeedReproducible(t *testing.T) {
	run := func(seed uint64) []int {
		s := New(Params{Temperature: 1, Seed: seed})
		var out []int
		for range 200 {
			out = append(out, s.Sample(logitsOf(0.25, 0.25, 0.25, 0.25), out))
		}
		return out
	}
	a, b, c := run(42), run(42), run(43)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed: position %d differs: %d vs %d", i, a[i], b[i])
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("seeds 42 and 43 gave the same 200 tokens")
	}
}

func TestRepeatPenalty(t *testing.T) {
	l := []float32{2, -2, 1.9, 0.5}
	s := New(Params{RepeatPenalty: 2})
	// Token 0 was used: 2/2 = 1 < 1.9, so greedy picks 2. Token 1 (negative)
	// gets more negative.
	if got := s.Sample(l, []int{0, 1, 0, 99}); got != 2 {
		t.Errorf("got %d, want 2", got)
	}
	if l[0] != 1 || l[1] != -4 || l[2] != 1.9 {
		t.Errorf("penalised logits %v, want [1 -4 1.9 0.5]", l)
	}
	// Only the last RepeatLastN tokens count.
	l = []float32{2, -2, 1.9, 0.5}
	New(Params{RepeatPenalty: 2, RepeatLastN: 1}).Sample(l, []int{0, 3})
	if l[0] != 2 || l[3] != 0.25 {
		t.Errorf("window of 1: logits %v, want [2 -2 1.9 0.25]", l)
	}
}

func TestRepeatPenaltyWholeHistory(t *testing.T) {
	l := []float32{2, -2, 1.9, 0.5}
	New(Params{RepeatPenalty: 2, RepeatLastN: -1}).Sample(l, []int{0, 3, 3})
	if l[0] != 1 || l[3] != 0.25 || l[1] != -2 {
		t.Errorf("whole history: logits %v, want [1 -2 1.9 0.25]", l)
	}
}

// TestSampleDoesNotAllocate checks that a sampler in steady use, with a
// repetition penalty and the whole sampling chain, allocates nothing per
// token (the engine samples every generated token with it).
func TestSampleDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	logits := make([]float32, 4096)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64())
	}
	history := make([]int, 200)
	for i := range history {
		history[i] = rng.IntN(len(logits))
	}
	work := make([]float32, len(logits))
	for _, p := range []Params{
		{RepeatPenalty: 1.1},
		{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1, Seed: 1},
		{Temperature: 1, RepeatPenalty: 1.3, RepeatLastN: -1, Seed: 2},
		{Temperature: 0.7, TopP: 0.9, MinP: 0.05, Seed: 3},
		{Temperature: 0.7, TopP: 0.9, Seed: 4},
		{Temperature: 0.7, TopK: 2000, MinP: 0.05, Seed: 5},
		{Temperature: 1, TopP: 0.5, MinP: 1e-9, Seed: 6},
	} {
		s := New(p)
		allocs := testing.AllocsPerRun(20, func() {
			copy(work, logits)
			s.Sample(work, history)
		})
		if allocs != 0 {
			t.Errorf("%+v: %v allocations per token, want 0", p, allocs)
		}
	}
}

func TestResetIsNew(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	logits := make([]float32, 500)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64())
	}
	history := []int{3, 7, 7, 100}
	used := New(Params{Temperature: 2, Seed: 1})
	for range 10 {
		work := append([]float32(nil), logits...)
		used.Sample(work, history)
	}
	p := Params{Temperature: 0.9, TopK: 50, TopP: 0.95, RepeatPenalty: 1.2, Seed: 42}
	used.Reset(p)
	fresh := New(p)
	for i := range 50 {
		a := append([]float32(nil), logits...)
		b := append([]float32(nil), logits...)
		if x, y := used.Sample(a, history), fresh.Sample(b, history); x != y {
			t.Fatalf("draw %d: reset sampler %d, new sampler %d", i, x, y)
		}
	}
}
