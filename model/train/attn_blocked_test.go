package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestBlockedAttention compares the blocked attention (forward and
// backward) with attendHead and attendHeadBack in float64, whose
// gradients TestAttentionBackward checks against finite differences: on
// row counts that are and are not multiples of the kernel's 4 and 16,
// with and without a pair's gap, two query heads sharing a key head.
func TestBlockedAttention(t *testing.T) {
	if !blockedAttention(16) {
		t.Skip("no SIMD gemm kernel on this CPU/build")
	}
	for _, c := range []struct{ n, g0, g1 int }{{7, 7, 7}, {21, 21, 21}, {37, 9, 20}, {40, 0, 16}, {64, 16, 48}} {
		t.Run(fmt.Sprintf("n%d-gap%d-%d", c.n, c.g0, c.g1), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.n), 7))
			n, d := c.n, 32
			q, k, v := randVec32(r, n*2*d, 0, 1), randVec32(r, n*d, 0, 1), randVec32(r, n*d, 0, 1)
			dout := randVec32(r, n*2*d, 0, 1)
			scale := float32(1 / math.Sqrt(float64(d)))
			f64 := func(x []float32) []float64 {
				y := make([]float64, len(x))
				for i, v := range x {
					y[i] = float64(v)
				}
				return y
			}
			// the reference in float64
			q6, k6, v6, do6 := f64(q), f64(k), f64(v), f64(dout)
			out6, lse6, sc6 := make([]float64, n*2*d), make([]float64, 2*n), make([]float64, n)
			dq6, dk6, dv6 := make([]float64, len(q)), make([]float64, len(k)), make([]float64, len(v))
			for h := range 2 {
				attendHead(headView[float64]{out6, 2 * d, h * d}, headView[float64]{q6, 2 * d, h * d},
					headView[float64]{k6, d, 0}, headView[float64]{v6, d, 0}, lse6[h*n:(h+1)*n], n, d, float64(scale), c.g0, c.g1, sc6)
				attendHeadBack(headView[float64]{dq6, 2 * d, h * d}, headView[float64]{dk6, d, 0}, headView[float64]{dv6, d, 0},
					headView[float64]{q6, 2 * d, h * d}, headView[float64]{k6, d, 0}, headView[float64]{v6, d, 0},
					headView[float64]{out6, 2 * d, h * d}, headView[float64]{do6, 2 * d, h * d}, lse6[h*n:(h+1)*n], n, d, float64(scale), c.g0, c.g1, sc6)
			}
			// blocked, float32
			out, lse := make([]float32, n*2*d), make([]float32, 2*n)
			dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
			fs := newAttnScratch(n, d, false)
			bs := newAttnScratch(n, d, true)
			for h := range 2 {
				attendHeadBlocked(fs, headView[float32]{out, 2 * d, h * d}, headView[float32]{q, 2 * d, h * d},
					headView[float32]{k, d, 0}, headView[float32]{v, d, 0}, lse[h*n:(h+1)*n], c.g0, c.g1, scale)
			}
			for h := range 2 {
				attendHeadBackBlocked(bs, headView[float32]{dq, 2 * d, h * d}, headView[float32]{dk, d, 0}, headView[float32]{dv, d, 0},
					headView[float32]{q, 2 * d, h * d}, headView[float32]{k, d, 0}, headView[float32]{v, d, 0},
					headView[float32]{out, 2 * d, h * d}, headView[float32]{dout, 2 * d, h * d}, lse[h*n:(h+1)*n], c.g0, c.g1, scale)
			}
			for _, x := range []struct {
				name string
				got  []float32
				want []float64
			}{{"out", out, out6}, {"lse", lse, lse6}, {"dq", dq, dq6}, {"dk", dk, dk6}, {"dv", dv, dv6}} {
				worst := 0.0
				for i, w := range x.want {
					worst = max(worst, math.Abs(float64(x.got[i])-w)/max(1, math.Abs(w)))
				}
				if worst > 2e-5 {
					t.Errorf("%s: max relative difference %.3g from float64 attendHead(Back)", x.name, worst)
				}
				t.Logf("%s: max relative difference %.2g", x.name, worst)
			}
		})
	}
}
