package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// TestMaskedSequence: a masked sequence's log-probability is the sum of
// its kept spans, each computed as a sequence of its own over its whole
// prefix (the masked span is context only), and its gradient matches
// central finite differences of that masked log-probability.
func TestMaskedSequence(t *testing.T) {
	m := open(t, testmodel.Write(t, testmodel.Tiny("qwen2", ggml.F32, 5)), 2)
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
	toks := []int{9707, 11, 1879, 0, 358, 1079, 264, 1273, 13, 198, 40, 2776}
	// The answer starts at 5: a call (5, 6), a tool result (7, 8, 9:
	// masked), the final text (10, 11).
	mask := make([]bool, len(toks))
	for _, t := range []int{5, 6, 10, 11} {
		mask[t] = true
	}
	masked := Seq{Tokens: toks, Start: 5, Mask: mask}
	if masked.Counted() != 4 {
		t.Fatalf("Counted() = %d, want 4", masked.Counted())
	}
	got, err := m.LogProb(masked, ad)
	if err != nil {
		t.Fatal(err)
	}
	call, err := m.LogProb(Seq{Tokens: toks[:7], Start: 5}, ad)
	if err != nil {
		t.Fatal(err)
	}
	final, err := m.LogProb(Seq{Tokens: toks, Start: 10}, ad)
	if err != nil {
		t.Fatal(err)
	}
	result, _ := m.LogProb(Seq{Tokens: toks[:10], Start: 7}, ad)
	all, _ := m.LogProb(Seq{Tokens: toks, Start: 5}, ad)
	if math.Abs(got-(call+final)) > 1e-3*math.Abs(got) {
		t.Errorf("masked log-probability %.6f, want the call's %.6f + the final text's %.6f", got, call, final)
	}
	if math.Abs(all-got-result) > 1e-3*math.Abs(all) {
		t.Errorf("unmasked %.6f − masked %.6f = %.6f, want the tool result's %.6f", all, got, all-got, result)
	}

	tp, err := m.Forward(masked, ad)
	if err != nil {
		t.Fatal(err)
	}
	grad := ad.Zero()
	if err := m.Backward(tp, ad, grad, 1); err != nil {
		t.Fatal(err)
	}
	ps, gs := ad.Params(), grad.Params()
	const h = 1e-2
	for k := 0; k < 10; k++ {
		pi := r.IntN(len(ps))
		i := r.IntN(len(ps[pi]))
		old := ps[pi][i]
		ps[pi][i] = old + h
		lp, _ := m.LogProb(masked, ad)
		ps[pi][i] = old - h
		lm, _ := m.LogProb(masked, ad)
		ps[pi][i] = old
		fd := (lp - lm) / (2 * h)
		if g := float64(gs[pi][i]); math.Abs(fd-g)/max(0.05, math.Abs(fd)) > 2e-2 {
			t.Errorf("param %d[%d]: gradient %.6g, finite differences %.6g", pi, i, g, fd)
		}
	}

	for _, bad := range []Seq{
		{Tokens: toks, Start: 5, Mask: mask[:4]},
		{Tokens: toks, Start: 5, Mask: make([]bool, len(toks))},
	} {
		if _, err := m.LogProb(bad, ad); err == nil {
			t.Errorf("mask %v accepted", bad.Mask)
		}
	}
}
