package train

import "math"

// AdamW is PyTorch's AdamW optimizer (decoupled weight decay) over an
// adapter's parameters, with gradient clipping by global norm as Hugging
// Face's Trainer does it (max_grad_norm).
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	// MaxGradNorm clips the gradient's global L2 norm; 0 does not clip.
	MaxGradNorm float64
	// Steps taken so far, and the first and second moments, in the order
	// of Adapter.Params.
	Steps int
	M, V  [][]float32
}

// NewAdamW returns an optimizer with PyTorch's defaults (β 0.9, 0.999,
// ε 1e-8), no weight decay, and clipping at norm 1 (the Trainer's
// default), for the parameters of a.
func NewAdamW(a *Adapter, lr float64) *AdamW {
	o := &AdamW{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1}
	for _, p := range a.Params() {
		o.M = append(o.M, make([]float32, len(p)))
		o.V = append(o.V, make([]float32, len(p)))
	}
	return o
}

// GradNorm is the global L2 norm of the gradient.
func GradNorm(grad *Adapter) float64 {
	var s float64
	for _, g := range grad.Params() {
		for _, v := range g {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// Step updates a's parameters with the gradient grad at learning rate lr
// (the schedule's current rate) and returns the gradient's norm before
// clipping.
func (o *AdamW) Step(a, grad *Adapter, lr float64) float64 {
	norm := GradNorm(grad)
	clip := 1.0
	if o.MaxGradNorm > 0 && norm > o.MaxGradNorm {
		clip = o.MaxGradNorm / (norm + 1e-6)
	}
	o.Steps++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.Steps))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.Steps))
	ps, gs := a.Params(), grad.Params()
	for i, p := range ps {
		g, m, v := gs[i], o.M[i], o.V[i]
		for j := range p {
			gj := float64(g[j]) * clip
			mj := o.Beta1*float64(m[j]) + (1-o.Beta1)*gj
			vj := o.Beta2*float64(v[j]) + (1-o.Beta2)*gj*gj
			m[j], v[j] = float32(mj), float32(vj)
			pj := float64(p[j]) * (1 - lr*o.WeightDecay)
			pj -= lr * (mj / bc1) / (math.Sqrt(vj/bc2) + o.Eps)
			p[j] = float32(pj)
		}
	}
	return norm
}
