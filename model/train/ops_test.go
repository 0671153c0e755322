package train

import (
	"fmt"
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
	// g0 = g1: plain causal attention; g0 < g1: the rows from g1 on skip
	// the rows [g0, g1), as the second answer of a pair skips the first
	for _, gap := range [][2]int{{7, 7}, {3, 5}} {
		r := rand.New(rand.NewPCG(4, 4))
		n, d := 7, 8
		g0, g1 := gap[0], gap[1]
		// two query heads sharing one key/value head, as grouped attention does
		q, k, v := randVec(r, n*2*d, 1), randVec(r, n*d, 1), randVec(r, n*d, 1)
		c := randVec(r, n*2*d, 1)
		out, lse, scores := make([]float64, n*2*d), make([]float64, 2*n), make([]float64, n)
		scale := 1 / math.Sqrt(float64(d))
		fwd := func() {
			for h := range 2 {
				attendHead(headView[float64]{out, 2 * d, h * d}, headView[float64]{q, 2 * d, h * d},
					headView[float64]{k, d, 0}, headView[float64]{v, d, 0}, lse[h*n:(h+1)*n], n, d, scale, g0, g1, scores)
			}
		}
		loss := func() float64 { fwd(); return weighted(c, out) }
		fwd()
		dq, dk, dv := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
		for h := range 2 {
			attendHeadBack(headView[float64]{dq, 2 * d, h * d}, headView[float64]{dk, d, 0}, headView[float64]{dv, d, 0},
				headView[float64]{q, 2 * d, h * d}, headView[float64]{k, d, 0}, headView[float64]{v, d, 0},
				headView[float64]{out, 2 * d, h * d}, headView[float64]{c, 2 * d, h * d}, lse[h*n:(h+1)*n], n, d, scale, g0, g1, scores)
		}
		if g0 < g1 {
			// a row past the gap must not depend on the skipped keys
			for j := g0; j < g1; j++ {
				for e := range d {
					old := k[j*d+e]
					k[j*d+e] = old + 1
					fwd()
					after := append([]float64(nil), out[g1*2*d:]...)
					k[j*d+e] = old
					fwd()
					for i, x := range out[g1*2*d:] {
						if x != after[i] {
							t.Fatalf("row %d sees key %d across the gap", g1+i/(2*d), j)
						}
					}
				}
			}
		}
		name := fmt.Sprintf("attention (gap %d..%d)", g0, g1)
		checkGrad(t, name+" q", q, dq, loss)
		checkGrad(t, name+" k", k, dk, loss)
		checkGrad(t, name+" v", v, dv, loss)
	}
}

func TestLogSoftmaxBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	logits := randVec(r, 50, 3)
	scratch := make([]float64, len(logits))
	loss := func() float64 { copy(scratch, logits); return 0.7 * logSoftmax(scratch, 17, false) }
	g := append([]float64(nil), logits...)
	logSoftmax(g, 17, true)
	for i := range g {
		g[i] *= 0.7
	}
	checkGrad(t, "log softmax", logits, g, loss)
	// float32 (vectorised expf) against float64
	l32 := make([]float32, len(logits))
	for i, v := range logits {
		l32[i] = float32(v)
	}
	g32 := append([]float32(nil), l32...)
	lp32 := logSoftmax(g32, 17, true)
	copy(scratch, logits)
	lp64 := logSoftmax(scratch, 17, false)
	if math.Abs(lp32-lp64) > 1e-5*max(1, math.Abs(lp64)) {
		t.Errorf("float32 log-probability %.9g, float64 %.9g", lp32, lp64)
	}
	for i := range g {
		if math.Abs(float64(g32[i])-g[i]/0.7) > 1e-6 {
			t.Errorf("float32 gradient [%d] %.9g, float64 %.9g", i, g32[i], g[i]/0.7)
		}
	}
}

// TestExpSubAccuracy checks the float32 exponential (the engine's
// vectorised expf) against math.Exp over the range training feeds it
// (arguments ≤ 0: scores minus their maximum, −g for SwiGLU): the
// relative error stays within 2 ulp (2.4e-7), and underflow goes to 0.
func TestExpSubAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	const n = 1 << 16
	x := make([]float32, n)
	for i := range x {
		switch i % 4 {
		case 0:
			x[i] = float32(-r.Float64() * 1) // near 0
		case 1:
			x[i] = float32(-r.Float64() * 20)
		case 2:
			x[i] = float32(-r.Float64() * 87)
		default:
			x[i] = float32(r.Float64()*40 - 20) // both signs, as −g is
		}
	}
	x[0], x[1], x[2] = 0, -200, float32(math.Inf(-1))
	e := append([]float32(nil), x...)
	expSub(e, 0)
	worst := 0.0
	for i, v := range x {
		want := math.Exp(float64(v))
		if want < 1e-37 { // below float32's normal range
			if e[i] > 1e-37 {
				t.Errorf("exp(%g) = %g, want ≈ 0", v, e[i])
			}
			continue
		}
		rel := math.Abs(float64(e[i])-want) / want
		worst = max(worst, rel)
		if rel > 2.4e-7 {
			t.Errorf("exp(%.9g) = %.9g, math.Exp %.9g: relative error %.3g", v, e[i], want, rel)
		}
	}
	t.Logf("%d arguments, worst relative error %.3g", n, worst)
}
