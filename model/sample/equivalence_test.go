package sample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var (
	inf = float32(math.Inf(1))
	nan = float32(math.NaN())
)

// logitKinds generate logit vectors of n entries, ordinary and not.
var logitKinds = []struct {
	name string
	gen  func(rng *rand.Rand, n int) []float32
}{
	{"gaussian", func(rng *rand.Rand, n int) []float32 {
		return fill(n, func(int) float32 { return float32(rng.NormFloat64()) })
	}},
	{"llm-like", func(rng *rand.Rand, n int) []float32 {
		// A broad bulk and a few strong candidates, as a model gives.
		l := fill(n, func(int) float32 { return float32(3*rng.NormFloat64() - 2) })
		for range 1 + rng.IntN(5) {
			l[rng.IntN(n)] = float32(12 + 6*rng.Float64())
		}
		return l
	}},
	{"ties", func(rng *rand.Rand, n int) []float32 {
		return fill(n, func(int) float32 { return float32(rng.IntN(4)) })
	}},
	{"all equal", func(rng *rand.Rand, n int) []float32 {
		return fill(n, func(int) float32 { return 1.5 })
	}},
	{"signed zeros", func(rng *rand.Rand, n int) []float32 {
		return fill(n, func(int) float32 {
			switch rng.IntN(3) {
			case 0:
				return float32(math.Copysign(0, -1))
			case 1:
				return 0
			}
			return -float32(rng.Float64())
		})
	}},
	{"-Inf and NaN", func(rng *rand.Rand, n int) []float32 {
		return fill(n, func(int) float32 {
			switch rng.IntN(4) {
			case 0:
				return -inf
			case 1:
				return nan
			}
			return float32(rng.NormFloat64())
		})
	}},
	{"+Inf", func(rng *rand.Rand, n int) []float32 {
		l := fill(n, func(int) float32 { return float32(rng.NormFloat64()) })
		for range 1 + rng.IntN(3) {
			l[rng.IntN(n)] = inf
		}
		return l
	}},
	{"nothing valid", func(rng *rand.Rand, n int) []float32 {
		return fill(n, func(i int) float32 { return []float32{nan, -inf}[i%2] })
	}},
	{"huge and tiny", func(rng *rand.Rand, n int) []float32 {
		return fill(n, func(int) float32 {
			return float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(77)-38)))
		})
	}},
	{"near min-p limit", func(rng *rand.Rand, n int) []float32 {
		// Logits exactly at best + ln(min_p) for min_p in the tests.
		l := fill(n, func(int) float32 { return float32(rng.NormFloat64()) })
		l[0] = 4
		for i := 1; i < n; i += 7 {
			l[i] = float32(4 + math.Log([]float64{0.05, 0.5, 0.01}[i%3]))
		}
		return l
	}},
}

func fill(n int, f func(int) float32) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = f(i)
	}
	return l
}

func randomParams(rng *rand.Rand) Params {
	pick := func(v ...float64) float64 { return v[rng.IntN(len(v))] }
	return Params{
		Temperature:   pick(0.7, 0.7, 1, 1, 1.5, 0.1, 1e-30, 1e30, math.Inf(1), math.NaN()),
		TopK:          []int{0, 0, 0, 0, -1, 1, 3, 40, 40, 1024, 1025, 4096, 3000, 1 << 30}[rng.IntN(14)],
		TopP:          pick(0, 0, 0.5, 0.9, 0.9, 0.95, 0.999, 1, 1e-9, -1, math.NaN()),
		MinP:          pick(0, 0, 0.05, 0.05, 0.01, 0.5, 1, 1.5, 1e-300, math.Inf(1), math.NaN()),
		RepeatPenalty: pick(0, 0, 1.1),
		RepeatLastN:   []int{0, -1, 8}[rng.IntN(3)],
		Seed:          rng.Uint64(),
	}
}

// sameTokens draws from logits with the fast sampler and the reference,
// both seeded by p, draws times, and fails at the first difference.
func sameTokens(t *testing.T, what string, logits []float32, p Params, draws int) *Sampler {
	t.Helper()
	fast, ref := New(p), newRef(p)
	history := []int{0, len(logits) / 2, len(logits) - 1, 0}
	a, b := make([]float32, len(logits)), make([]float32, len(logits))
	for d := range draws {
		copy(a, logits)
		copy(b, logits)
		got, want := fast.Sample(a, history), ref.Sample(b, history)
		if got != want {
			t.Fatalf("%s, %+v, draw %d: sampled %d, the full sort samples %d", what, p, d, got, want)
		}
		history = append(history[:0], history[1:]...)
		history = append(history, got)
	}
	return fast
}

// TestSameTokensAsFullSort checks the sampler against the one it replaced
// (reference_test.go) token for token, over random logits of every kind
// and random parameters.
func TestSameTokensAsFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	sizes := []int{1, 2, 5, 300, 2000, 20000}
	trials := 0
	for _, kind := range logitKinds {
		for _, n := range sizes {
			combos := 60
			if n >= 20000 {
				combos = 8
			}
			for range combos {
				logits := kind.gen(rng, n)
				p := randomParams(rng)
				sameTokens(t, fmt.Sprintf("%s n=%d", kind.name, n), logits, p, 6)
				trials++
			}
		}
	}
	t.Logf("%d logit vectors × parameter sets", trials)
}

// TestSameTokensFullVocabulary checks the parameter sets the benchmarks
// time, at Qwen2's vocabulary size, and that the shortcuts, not the full
// sort, answered them.
func TestSameTokensFullVocabulary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the reference sorts 151,936 candidates per draw")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, kind := range logitKinds[:2] {
		logits := kind.gen(rng, 151936)
		for _, tc := range []struct {
			p         Params
			fullSorts bool
		}{
			{Params{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, Seed: 1}, false},
			{Params{Temperature: 0.7, TopP: 0.9, MinP: 0.05, Seed: 2}, false},
			{Params{Temperature: 1, MinP: 0.1, Seed: 3}, false},
			{Params{Temperature: 0.7, TopP: 0.9, Seed: 4}, false},
			{Params{Temperature: 1.2, TopP: 0.99, MinP: math.NaN(), Seed: 6}, false},
			{Params{Temperature: 0.7, Seed: 7}, false},
			{Params{Temperature: 1.3, TopP: 1, MinP: -1, Seed: 8}, false},
			{Params{Temperature: 0.8, TopK: 5000, Seed: 5}, false},
			{Params{Temperature: 0.8, TopK: 100000, TopP: 0.95, MinP: 0.01, Seed: 9}, false},
		} {
			s := sameTokens(t, kind.name, logits, tc.p, 4)
			if got := s.fullSorts > 0; got != tc.fullSorts {
				t.Errorf("%s %+v: %d full sorts in 4 draws, want some: %v", kind.name, tc.p, s.fullSorts, tc.fullSorts)
			}
		}
	}
}

// TestUndecidedCutSortsEverything makes top-p's cut fall exactly on a
// prefix sum, where the unsorted sum cannot tell which side it is on: the
// sampler must sort everything and still agree with the reference.
func TestUndecidedCutSortsEverything(t *testing.T) {
	logits := []float32{1, 1, 1, 1, 0.5}
	for i := range 4 {
		logits[i] = float32(math.Log(0.25))
	}
	logits[4] = -inf
	for _, minP := range []float64{0.01, 0} {
		p := Params{Temperature: 1, TopP: 0.5, MinP: minP, Seed: 3}
		s := sameTokens(t, "quarters", logits, p, 200)
		if s.fullSorts != 200 {
			t.Errorf("min_p %v: %d of 200 draws sorted everything, want all", minP, s.fullSorts)
		}
	}
}

// refCumulative returns the valid logits' ids sorted as the reference
// sorts them and the running totals of their probabilities at
// temperature t, computed as the reference computes them.
func refCumulative(logits []float32, t float64) (ids []int, acc []float64) {
	var c []refCandidate
	for i, l := range logits {
		if valid(l) {
			c = append(c, refCandidate{id: i, logit: l})
		}
	}
	slices.SortFunc(c, refOrder)
	refSoftmax(c, t)
	sum := 0.0
	for _, x := range c {
		sum += x.p
		ids, acc = append(ids, x.id), append(acc, sum)
	}
	return ids, acc
}

// boundaries returns running totals from acc, and the floats either side
// of them, that lie in (0, 1).
func boundaries(acc []float64, rng *rand.Rand, count int) []float64 {
	var out []float64
	for range count {
		a := acc[rng.IntN(len(acc))]
		for _, v := range []float64{a, math.Nextafter(a, 0), math.Nextafter(a, 2)} {
			if v > 0 && v < 1 {
				out = append(out, v)
			}
		}
	}
	return out
}

// TestCutsAtBoundaries puts top-p exactly on (and a float either side of)
// the reference's running totals, where the shortcut's own sums, added in
// another order, may fall on the other side: it must then sort everything
// rather than guess. Rounding puts some of these on the other side, so
// the test also checks that some draws did sort everything.
func TestCutsAtBoundaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	fullSorts := 0
	for _, kind := range logitKinds[:4] {
		logits := kind.gen(rng, 3000)
		_, acc := refCumulative(logits, 1)
		for _, p := range boundaries(acc, rng, 40) {
			for _, minP := range []float64{0, 1e-4} {
				s := sameTokens(t, kind.name, logits, Params{Temperature: 0.9, TopP: p, MinP: minP, Seed: rng.Uint64()}, 1)
				fullSorts += s.fullSorts
			}
		}
	}
	if fullSorts == 0 {
		t.Error("no cut on a boundary needed the full sort; the test does not reach the undecided case")
	}
	t.Logf("%d draws sorted everything", fullSorts)
}

// TestBucketedDrawAtBoundaries gives pickBucketed random numbers exactly on
// (and a float either side of) the reference's running totals: when it
// answers, it must answer what the sorted walk answers.
func TestBucketedDrawAtBoundaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	undecided, decided := 0, 0
	for _, kind := range logitKinds[:4] {
		for _, temp := range []float64{0.7, 1, 3} {
			logits := kind.gen(rng, 3000)
			ids, acc := refCumulative(logits, temp)
			s := New(Params{Temperature: temp})
			best, n := bestValid(logits)
			for _, r := range append(boundaries(acc, rng, 40), rng.Float64(), 0) {
				want := ids[len(ids)-1]
				for i, a := range acc {
					if r < a {
						want = ids[i]
						break
					}
				}
				got, ok := s.pickBucketed(logits, best, n, r)
				if !ok {
					undecided++
					continue
				}
				decided++
				if got != want {
					t.Fatalf("%s at temperature %v, r = %v: picked %d, the sorted walk picks %d", kind.name, temp, r, got, want)
				}
			}
		}
	}
	if undecided == 0 || decided == 0 {
		t.Errorf("%d draws decided, %d undecided: want both", decided, undecided)
	}
}

// TestRadixOrder checks the radix sort against slices.SortFunc(order).
func TestRadixOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	special := []float32{inf, -float32(math.MaxFloat32), math.MaxFloat32, 0, float32(math.Copysign(0, -1)),
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1, -1}
	s := New(Params{Temperature: 1})
	for trial := range 300 {
		n := 1 + rng.IntN(3000)
		kind := logitKinds[trial%len(logitKinds)]
		logits := kind.gen(rng, n)
		for range rng.IntN(10) {
			logits[rng.IntN(n)] = special[rng.IntN(len(special))]
		}
		var want []candidate
		for i, l := range logits {
			if valid(l) {
				want = append(want, candidate{id: i, logit: l})
			}
		}
		slices.SortFunc(want, order)
		got := s.sortAll(logits, len(want))
		for i := range want {
			if got[i].id != want[i].id {
				t.Fatalf("%s n=%d: position %d holds id %d (logit %v), want id %d (logit %v)",
					kind.name, n, i, got[i].id, got[i].logit, want[i].id, want[i].logit)
			}
		}
	}
}

// FuzzSameTokensAsFullSort reads logits (4 bytes each, any bit pattern)
// and parameters from the fuzzer and compares with the reference.
func FuzzSameTokensAsFullSort(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64}, 0.7, 0, 0.9, 0.05, uint64(1))
	f.Add([]byte{0, 0, 128, 63, 0, 0, 128, 63, 0, 0, 128, 63, 0, 0, 128, 63}, 1.0, 0, 0.5, 0.01, uint64(2))
	f.Add([]byte{0, 0, 128, 127, 0, 0, 192, 127, 0, 0, 128, 255, 0, 0, 0, 128}, 1.0, 2, 0.0, 0.0, uint64(3))
	f.Fuzz(func(t *testing.T, raw []byte, temp float64, topK int, topP, minP float64, seed uint64) {
		n := len(raw) / 4
		if n == 0 || n > 4096 {
			return
		}
		logits := make([]float32, n)
		for i := range logits {
			logits[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		}
		p := Params{Temperature: temp, TopK: topK, TopP: topP, MinP: minP, Seed: seed}
		sameTokens(t, "fuzz", logits, p, 3)
	})
}
