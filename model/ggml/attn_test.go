package ggml

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestMadF16SingleRounding(t *testing.T) {
	// The float32 result must be the exactly rounded x*v+y (one rounding,
	// like an FMA): compare with big.Float arithmetic.
	rng := rand.New(rand.NewPCG(13, 14))
	const n = 4096
	y := make([]uint16, n)
	x := make([]uint16, n)
	for i := range y {
		y[i] = FP32ToFP16(float32(rng.NormFloat64()))
		x[i] = FP32ToFP16(float32(rng.NormFloat64()))
	}
	v := float32(0.3183)
	want := make([]uint16, n)
	for i := range y {
		p := new(big.Float).SetPrec(200).SetFloat64(float64(FP16ToFP32(x[i])))
		p.Mul(p, new(big.Float).SetFloat64(float64(v)))
		p.Add(p, new(big.Float).SetFloat64(float64(FP16ToFP32(y[i]))))
		f32, _ := p.Float32()
		want[i] = FP32ToFP16(f32)
	}
	MadF16(y, x, v)
	for i := range y {
		if y[i] != want[i] {
			t.Fatalf("element %d: %#04x, want %#04x", i, y[i], want[i])
		}
	}
	s := []uint16{FP32ToFP16(1.5), FP32ToFP16(-2)}
	ScaleF16(s, 0.5)
	if FP16ToFP32(s[0]) != 0.75 || FP16ToFP32(s[1]) != -1 {
		t.Fatalf("ScaleF16: %v %v", FP16ToFP32(s[0]), FP16ToFP32(s[1]))
	}
	f := make([]float32, 2)
	FromF16(f, s)
	if f[0] != 0.75 || f[1] != -1 {
		t.Fatalf("FromF16: %v", f)
	}
}

func TestDotHelpersMatchMatVec(t *testing.T) {
	// DotF16/DotBF16/DotF32 are the kernels MatVec runs for those types.
	rng := rand.New(rand.NewPCG(15, 16))
	const n = 640
	w := randFloats(rng, n, 1)
	x := randFloats(rng, n, 1)
	for _, typ := range []Type{F16, BF16, F32} {
		wb, _ := Quantize(typ, w)
		var y [1]float32
		if err := MatVec(typ, wb, 1, n, x, y[:]); err != nil {
			t.Fatal(err)
		}
		var got float32
		switch typ {
		case F16:
			a, b := make([]uint16, n), make([]uint16, n)
			ToF16(a, w)
			ToF16(b, x)
			got = DotF16(a, b)
		case BF16:
			a, b := make([]uint16, n), make([]uint16, n)
			for i := range a {
				a[i], b[i] = FP32ToBF16(w[i]), FP32ToBF16(x[i])
			}
			got = DotBF16(a, b)
		case F32:
			got = DotF32(w, x)
		}
		if math.Float32bits(got) != math.Float32bits(y[0]) {
			t.Errorf("%s: helper %v, MatVec %v", typ, got, y[0])
		}
	}
}
