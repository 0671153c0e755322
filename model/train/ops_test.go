package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every backward is checked against central finite differences of its
// forward in float64: for a random projection L = Σ c⊙f(x), the analytic
// dL/dx must match (L(x+h·e_i) − L(x−h·e_i)) / 2h.

const fdStep = 1e-6

func randVec(r *rand.Rand, n int, std float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64() * std
	}
	return v
}

func randVec32(r *rand.Rand, n int, mean, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + r.NormFloat64()*std)
	}
	return v
}

// checkGrad compares grad with the finite differences of loss at x.
func checkGrad(t *testing.T, name string, x, grad []float64, loss func() float64) {
	t.Helper()
	worst := 0.0
	for i := range x {
		old := x[i]
		x[i] = old + fdStep
		lp := loss()
		x[i] = old - fdStep
		lm := loss()
		x[i] = old
		fd := (lp - lm) / (2 * fdStep)
		err := math.Abs(fd-grad[i]) / max(1, math.Abs(fd))
		worst = max(worst, err)
		if err > 1e-6 {
			t.Errorf("%s: d/dx[%d] = %.9g, finite differences %.9g", name, i, grad[i], fd)
			return
		}
	}
	t.Logf("%s: %d partial derivatives, worst relative error %.2g", name, len(x), worst)
}

func weighted(c, y []float64) float64 {
	var s float64
	for i := range c {
		s += c[i] * y[i]
	}
	return s
}

func TestRMSNormBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	n := 16
	x, c, w := randVec(r, n, 1), randVec(r, n, 1), randVec32(r, n, 1, 0.3)
	y := make([]float64, n)
	loss := func() float64 { rmsNorm(y, x, w, 1e-6); return weighted(c, y) }
	rr := rmsNorm(y, x, w, 1e-6)
	dx := make([]float64, n)
	rmsNormBack(dx, x, w, rr, c)
	checkGrad(t, "rmsnorm", x, dx, loss)
}

func TestRopeBackward(t *testing.T) {
	for _, neox := range []bool{true, false} {
		r := rand.New(rand.NewPCG(2, 2))
		heads, dim, pos := 3, 8, 5
		tab := newRopeTable(pos+1, 6, neox, 10000, 1, nil) // partial rotation: 6 of 8 dims
		x, c := randVec(r, heads*dim, 1), randVec(r, heads*dim, 1)
		y := make([]float64, len(x))
		loss := func() float64 { copy(y, x); rope(tab, y, pos, heads, dim, false); return weighted(c, y) }
		dx := append([]float64(nil), c...)
		rope(tab, dx, pos, heads, dim, true)
		checkGrad(t, "rope", x, dx, loss)
	}
}

func TestSwigluBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	n := 20
	g, u, c := randVec(r, n, 2), randVec(r, n, 1), randVec(r, n, 1)
	a := make([]float64, n)
	loss := func() float64 { swiglu(a, g, u); return weighted(c, a) }
	dg, du := make([]float64, n), make([]float64, n)
	swigluBack(dg, du, g, u, c)
	checkGrad(t, "swiglu gate", g, dg, loss)
	checkGrad(t, "swiglu up", u, du, loss)
}

func TestAttentionBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	n, d := 7, 8
	// two query heads sharing one key/value head, as grouped attention does
	q, k, v := randVec(r, n*2*d, 1), randVec(r, n*d, 1), randVec(r, n*d, 1)
	c := randVec(r, n*2*d, 1)
	out, lse, scores := make([]float64, n*2*d), make([]float64, 2*n), make([]float64, n)
	scale := 1 / math.Sqrt(float64(d))
	fwd := func() {
		for h := range 2 {
			attendHead(headView[float64]{out, 2 * d, h * d}, headView[float64]{q, 2 * d, h * d},
				headView[float64]{k, d, 0}, headView[float64]{v, d, 0}, lse[h*n:(h+1)*n], n, d, scale, scores)
		}
	}
	loss := func() float64 { fwd(); return weighted(c, out) }
	fwd()
	dq, dk, dv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
	for h := range 2 {
		attendHeadBack(headView[float64]{dq, 2 * d, h * d}, headView[float64]{dk, d, 0}, headView[float64]{dv, d, 0},
			headView[float64]{q, 2 * d, h * d}, headView[float64]{k, d, 0}, headView[float64]{v, d, 0},
			headView[float64]{out, 2 * d, h * d}, headView[float64]{c, 2 * d, h * d}, lse[h*n:(h+1)*n], n, d, scale)
	}
	checkGrad(t, "attention q", q, dq, loss)
	checkGrad(t, "attention k", k, dk, loss)
	checkGrad(t, "attention v", v, dv, loss)
}

func TestLogSoftmaxBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	logits := randVec(r, 50, 3)
	loss := func() float64 { lp, _ := logSoftmaxAt(logits, 17); return 0.7 * lp }
	_, lse := logSoftmaxAt(logits, 17)
	g := append([]float64(nil), logits...)
	logSoftmaxBack(g, 17, lse, 0.7)
	checkGrad(t, "log softmax", logits, g, loss)
}
