package train

import (
	"math"
	"testing"
)

// TestLossDerivatives checks both losses' values against TRL's formulas
// and their derivatives against finite differences.
func TestLossDerivatives(t *testing.T) {
	p := &Preference{Chosen: Seq{Tokens: make([]int, 10), Start: 4}, Rejected: Seq{Tokens: make([]int, 12), Start: 4},
		RefChosen: -20.5, RefRejected: -25.25}
	for _, c := range []struct {
		loss   Loss
		beta   float64
		pc, pr float64
		want   float64
	}{
		// at the reference, DPO's loss is log 2 and IPO's (1/2β)²
		{LossSigmoid, 0.1, -20.5, -25.25, math.Ln2},
		{LossIPO, 0.1, -20.5, -25.25, 25},
		// −log σ(0.1·((−19 + 26) − (−20.5 + 25.25)))
		{LossSigmoid, 0.1, -19, -26, -math.Log(1 / (1 + math.Exp(-0.1*(7-4.75))))},
		// ((−19/6 + 26/8) − (−20.5/6 + 25.25/8) − 1/0.4)²
		{LossIPO, 0.2, -19, -26, math.Pow((-19.0/6+26.0/8)-(-20.5/6+25.25/8)-2.5, 2)},
	} {
		res, dc, dr := lossOf(c.loss, c.beta, p, c.pc, c.pr)
		if math.Abs(res.Loss-c.want) > 1e-12 {
			t.Errorf("%s β=%v: loss %v, want %v", c.loss, c.beta, res.Loss, c.want)
		}
		const h = 1e-6
		lp, _, _ := lossOf(c.loss, c.beta, p, c.pc+h, c.pr)
		lm, _, _ := lossOf(c.loss, c.beta, p, c.pc-h, c.pr)
		if fd := (lp.Loss - lm.Loss) / (2 * h); math.Abs(fd-dc) > 1e-7 {
			t.Errorf("%s: dL/dπ_c = %v, finite differences %v", c.loss, dc, fd)
		}
		lp, _, _ = lossOf(c.loss, c.beta, p, c.pc, c.pr+h)
		lm, _, _ = lossOf(c.loss, c.beta, p, c.pc, c.pr-h)
		if fd := (lp.Loss - lm.Loss) / (2 * h); math.Abs(fd-dr) > 1e-7 {
			t.Errorf("%s: dL/dπ_r = %v, finite differences %v", c.loss, dr, fd)
		}
	}
}
