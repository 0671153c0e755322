package train

import (
	"fmt"
	"math"
)

// Loss is a preference loss, named as TRL's DPOTrainer names its
// loss_type.
type Loss string

// The losses.
const (
	// LossSigmoid is DPO's: −log σ(β·((π_c − π_r) − (ref_c − ref_r))),
	// log-probabilities summed over the answer tokens.
	LossSigmoid Loss = "sigmoid"
	// LossIPO is IPO's: (((π_c − π_r) − (ref_c − ref_r)) − 1/(2β))², with
	// log-probabilities averaged over the answer tokens, as TRL does.
	LossIPO Loss = "ipo"
)

// ParseLoss reads a method name: "dpo" or "sigmoid", or "ipo".
func ParseLoss(s string) (Loss, error) {
	switch s {
	case "dpo", "sigmoid", "":
		return LossSigmoid, nil
	case "ipo":
		return LossIPO, nil
	}
	return "", fmt.Errorf("train: method %q: want dpo or ipo", s)
}

// Preference is one preference pair: two sequences sharing a prompt, the
// chosen and the rejected answer, with the reference model's (the base
// without adapter) log-probabilities of each, computed once.
type Preference struct {
	Chosen, Rejected       Seq
	RefChosen, RefRejected float64
}

// PairResult is the loss of one pair and its implicit rewards β·(π − ref).
type PairResult struct {
	Loss                         float64
	ChosenReward, RejectedReward float64
}

// Correct says the implicit reward ranks the chosen answer first.
func (r PairResult) Correct() bool { return r.ChosenReward > r.RejectedReward }

// Reference computes and stores p's reference log-probabilities, in one
// pass that computes the shared prompt once.
func (m *Model) Reference(p *Preference) error {
	var err error
	p.RefChosen, p.RefRejected, err = m.logProbs(p.Chosen, p.Rejected, nil)
	return err
}

// lossOf returns the loss of a pair and its derivatives with respect to
// the policy's log-probabilities of the chosen and rejected answers.
func lossOf(loss Loss, beta float64, p *Preference, pc, pr float64) (PairResult, float64, float64) {
	rc, rr := p.RefChosen, p.RefRejected
	nc, nr := 1.0, 1.0
	if loss == LossIPO {
		nc, nr = float64(p.Chosen.Counted()), float64(p.Rejected.Counted())
		pc, pr, rc, rr = pc/nc, pr/nr, rc/nc, rr/nr
	}
	h := (pc - pr) - (rc - rr)
	res := PairResult{ChosenReward: beta * (pc - rc), RejectedReward: beta * (pr - rr)}
	var dh float64
	switch loss {
	case LossIPO:
		d := h - 1/(2*beta)
		res.Loss, dh = d*d, 2*d
	default:
		z := beta * h
		res.Loss = softplus(-z) // −log σ(z)
		dh = -beta * sigmoid(-z)
	}
	return res, dh / nc, -dh / nr
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// softplus is log(1 + eˣ) without overflow.
func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// Eval returns the loss and rewards of p under the adapter ad.
func (m *Model) Eval(p *Preference, ad *Adapter, loss Loss, beta float64) (PairResult, error) {
	pc, pr, err := m.logProbs(p.Chosen, p.Rejected, ad)
	if err != nil {
		return PairResult{}, err
	}
	res, _, _ := lossOf(loss, beta, p, pc, pr)
	return res, nil
}

// Step runs p forward and backward under ad and adds weight times the
// gradient of its loss to grad. Both answers run in one pass (layout):
// the prompt they share is computed once, and its activations receive
// the gradients of both.
func (m *Model) Step(p *Preference, ad, grad *Adapter, loss Loss, beta float64, weight float32) (PairResult, error) {
	tp, err := m.forward(shared(p.Chosen, p.Rejected), ad, true)
	if err != nil {
		return PairResult{}, err
	}
	res, dc, dr := lossOf(loss, beta, p, tp.logP[0], tp.logP[1])
	return res, m.backward(tp, ad, grad, [2]float32{weight * float32(dc), weight * float32(dr)})
}
