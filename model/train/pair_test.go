package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// TestPairMatchesSeparate checks that running a pair's two sequences in
// one pass, their shared prompt computed once (layout), gives the
// log-probabilities and the LoRA gradient of separate passes over each
// sequence: for a shared prompt, for answers that also begin alike, and
// for sequences sharing nothing.
func TestPairMatchesSeparate(t *testing.T) {
	for _, typ := range []ggml.Type{ggml.F32, ggml.Q8_0, ggml.F16} {
		t.Run(typ.String(), func(t *testing.T) {
			m := open(t, testmodel.Write(t, testmodel.Tiny("qwen2", typ, 5)), 2)
			r := rand.New(rand.NewPCG(3, 4))
			ad, err := NewAdapter(&m.Config, AllTargets, 4, 8, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ad.Params() {
				for i := range p {
					p[i] = float32(r.NormFloat64() * 0.05)
				}
			}
			toks := func(n int) []int {
				v := make([]int, n)
				for i := range v {
					v[i] = r.IntN(m.Config.Vocab)
				}
				return v
			}
			prompt := toks(9)
			cat := func(a, b []int) []int { return append(append([]int(nil), a...), b...) }
			same := toks(2)
			mask := func(n int, keep ...int) []bool {
				v := make([]bool, n)
				for _, k := range keep {
					v[k] = true
				}
				return v
			}
			for _, q8 := range []bool{true, false} {
				m.q8Back = q8
				for _, c := range []struct {
					name string
					a, b Seq
				}{
					{"shared prompt", Seq{Tokens: cat(prompt, toks(7)), Start: 9}, Seq{Tokens: cat(prompt, toks(5)), Start: 9}},
					{"answers begin alike", Seq{Tokens: cat(prompt, cat(same, toks(4))), Start: 9}, Seq{Tokens: cat(prompt, cat(same, toks(6))), Start: 9}},
					{"nothing shared", Seq{Tokens: toks(12), Start: 4}, Seq{Tokens: toks(10), Start: 6}},
					{"masked", Seq{Tokens: cat(prompt, toks(6)), Start: 9, Mask: mask(15, 9, 10, 13, 14)},
						Seq{Tokens: cat(prompt, toks(5)), Start: 9, Mask: mask(14, 11, 12)}},
				} {
					ca, err := m.LogProb(c.a, ad)
					if err != nil {
						t.Fatal(err)
					}
					cb, err := m.LogProb(c.b, ad)
					if err != nil {
						t.Fatal(err)
					}
					pa, pb, err := m.logProbs(c.a, c.b, ad)
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("%s: log-probabilities %.9g %.9g, separately %.9g %.9g", c.name, pa, pb, ca, cb)
					if math.Abs(pa-ca) > 1e-5*math.Abs(ca) || math.Abs(pb-cb) > 1e-5*math.Abs(cb) {
						t.Errorf("%s: together %.9g %.9g, separately %.9g %.9g", c.name, pa, pb, ca, cb)
					}
					// the gradient of 0.3·logP(a) − 0.7·logP(b). A quantized
					// base's transposed products round dY to 8 bits per row
					// (transposed.go), and a shared prompt row's dY is the sum
					// of both answers' rather than each apart: those agree to
					// the rounding of 8 bits; the exact products exactly.
					tol := 1e-5
					if m.q8Back && !floatType(m.W.Output.Type) {
						tol = 1e-2
					}
					want := ad.Zero()
					for _, s := range []struct {
						seq  Seq
						coef float32
					}{{c.a, 0.3}, {c.b, -0.7}} {
						tp, err := m.Forward(s.seq, ad)
						if err != nil {
							t.Fatal(err)
						}
						if err := m.Backward(tp, ad, want, s.coef); err != nil {
							t.Fatal(err)
						}
					}
					rel := pairGradDiff(t, m, c.a, c.b, ad, want)
					t.Logf("%s: gradient relative difference %.3g", c.name, rel)
					if !(rel < tol) {
						t.Errorf("%s: gradient relative difference %.3g, want < %.3g", c.name, rel, tol)
					}
				}
			}
		})
	}
}

// pairGradDiff returns the relative L2 difference between want and the
// gradient of 0.3·logP(a) − 0.7·logP(b) computed in one pass.
func pairGradDiff(t *testing.T, m *Model, a, b Seq, ad, want *Adapter) float64 {
	t.Helper()
	got := ad.Zero()
	tp, err := m.forward(shared(a, b), ad, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.backward(tp, ad, got, [2]float32{0.3, -0.7}); err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for i, g := range got.Params() {
		for j, v := range g {
			w := want.Params()[i][j]
			num += float64(v-w) * float64(v-w)
			den += float64(w) * float64(w)
		}
	}
	return math.Sqrt(num / den)
}
