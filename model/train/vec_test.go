package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
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

// TestDecodeF16 converts every F16 bit pattern, at lengths with and
// without a tail, and compares the bits with ggml.Dequantize's.
func TestDecodeF16(t *testing.T) {
	src := make([]byte, 2*(1<<16)+6) // all 65536 patterns and a 3-value tail
	for i := range 1<<16 + 3 {
		v := uint16(i)
		src[2*i], src[2*i+1] = byte(v), byte(v>>8)
	}
	want := make([]float32, len(src)/2)
	if err := ggml.Dequantize(ggml.F16, src, want); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(want))
	if !decodeF16(src, got) {
		t.Skip("no F16C on this CPU/build")
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
			t.Fatalf("F16 %#04x: %v (%#08x), want %v (%#08x)", i&0xffff, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}
