package arch

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRMSNormAgainstFormula(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 96)
	w := make([]float32, 96)
	for i := range x {
		x[i] = float32(r.NormFloat64())
		w[i] = float32(1 + 0.1*r.NormFloat64())
	}
	got := make([]float32, len(x))
	rmsNorm(got, x, w, 1e-6)
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+1e-6)
	for i := range x {
		want := float64(x[i]) * inv * float64(w[i])
		if math.Abs(float64(got[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("element %d: got %v, want %v", i, got[i], want)
		}
	}
}

// TestRopeVariants checks both pair layouts and frequency factors against
// the textbook formula: pair i of a head rotates by
// pos*scale*base^(-2i/d)/factor_i.
func TestRopeVariants(t *testing.T) {
	const dims, headDim, heads = 16, 16, 2
	factors := make([]float32, dims/2)
	for i := range factors {
		factors[i] = 1 + float32(i)/4
	}
	for _, tc := range []struct {
		name    string
		neox    bool
		scale   float32
		factors []float32
	}{
		{"normal", false, 1, nil},
		{"neox", true, 1, nil},
		{"normal with rope_freqs", false, 1, factors},
		{"neox with linear scaling", true, 0.25, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, pos := range []int{0, 1, 7, 300, 4000} {
				r := newRope(dims, tc.neox, 10000, tc.scale, tc.factors)
				r.at(pos)
				x := make([]float32, heads*headDim)
				for i := range x {
					x[i] = float32(i%7) - 3
				}
				orig := append([]float32(nil), x...)
				r.apply(x, heads, headDim)
				for h := range heads {
					for i := range dims / 2 {
						a, b := 2*i, 2*i+1
						if tc.neox {
							a, b = i, i+dims/2
						}
						ff := 1.0
						if tc.factors != nil {
							ff = float64(tc.factors[i])
						}
						angle := float64(pos) * float64(tc.scale) * math.Pow(10000, -2*float64(i)/dims) / ff
						x0, x1 := float64(orig[h*headDim+a]), float64(orig[h*headDim+b])
						w0 := x0*math.Cos(angle) - x1*math.Sin(angle)
						w1 := x0*math.Sin(angle) + x1*math.Cos(angle)
						// float32 angle accumulation loses ~1e-7 relative of
						// the angle, so allow for pos*1e-6.
						tol := 1e-5 + 1e-6*float64(pos)
						if math.Abs(float64(x[h*headDim+a])-w0) > tol || math.Abs(float64(x[h*headDim+b])-w1) > tol {
							t.Fatalf("pos %d head %d pair %d: got (%v, %v), want (%v, %v)", pos, h, i, x[h*headDim+a], x[h*headDim+b], w0, w1)
						}
					}
				}
			}
		})
	}
}
