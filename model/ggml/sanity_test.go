package ggml

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSanityRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, Q8_1} {
		x := make([]float32, 512)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		b, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(typ, err)
		}
		y := make([]float32, len(x))
		if err := Dequantize(typ, b, y); err != nil {
			t.Fatal(typ, err)
		}
		var se, sx float64
		for i := range x {
			se += float64((x[i] - y[i]) * (x[i] - y[i]))
			sx += float64(x[i] * x[i])
		}
		t.Logf("%s rel rmse %.4f", typ, math.Sqrt(se/sx))
		if _, ok := VecDotType(typ); ok {
			act := make([]float32, 512)
			for i := range act {
				act[i] = float32(rng.NormFloat64())
			}
			var out [1]float32
			if err := MatVec(typ, b, 1, 512, act, out[:]); err != nil {
				t.Fatal(err)
			}
			var ref float64
			for i := range act {
				ref += float64(y[i] * act[i])
			}
			t.Logf("%s matvec %.4f vs dequant dot %.4f", typ, out[0], ref)
		}
	}
}
