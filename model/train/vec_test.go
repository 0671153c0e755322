package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestVecKernels compares the SIMD dot and axpy with the pure-Go ones on
// every length up to 100 (all the tails).
func TestVecKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 100; n++ {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		var want float64
		for i := range a {
			want += float64(a[i]) * float64(b[i])
		}
		if got := dot32(a, b); math.Abs(float64(got)-want) > 1e-4*(1+math.Abs(want)) {
			t.Errorf("n=%d: dot = %v, want %v", n, got, want)
		}
		y1 := append([]float32(nil), b...)
		y2 := append([]float32(nil), b...)
		axpy32(y1, 0.75, a)
		axpyGo(y2, 0.75, a)
		for i := range y1 {
			if math.Abs(float64(y1[i]-y2[i])) > 1e-6 {
				t.Fatalf("n=%d: axpy[%d] = %v, want %v", n, i, y1[i], y2[i])
			}
		}
	}
}
