package arch

import (
	"encoding/binary"
	"math"
	"os"
	"testing"
)

// TestExpSiLUMatchGgml checks expf and silu bit for bit against what
// ggml's portable x86-64 CPU build (libggml-cpu-x64.so, the build llama.cpp
// golden fixtures come from) computes in ggml_vec_soft_max_f32 and
// ggml_vec_silu_f32, on the inputs of testdata/ggml-exp-x64.bin
// (scripts/reference/llama-dump-exp.sh): edges, every 2^20th float32 bit
// pattern and random values in the ranges softmax and SiLU meet.
func TestExpSiLUMatchGgml(t *testing.T) {
	b, err := os.ReadFile("testdata/ggml-exp-x64.bin")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4 {
		t.Fatal("ggml-exp-x64.bin: truncated")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if len(b) != 4+12*n {
		t.Fatalf("ggml-exp-x64.bin: %d bytes for %d records", len(b), n)
	}
	f := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[4+4*i:])) }
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
	}
	bad := 0
	for i := range n {
		x, wantExp, wantSiLU := f(3*i), f(3*i+1), f(3*i+2)
		if got := expf(x); !same(got, wantExp) {
			if bad++; bad <= 10 {
				t.Errorf("expf(%g) = %g (%#08x), ggml %g (%#08x)", x, got, math.Float32bits(got), wantExp, math.Float32bits(wantExp))
			}
		}
		if got := silu(x); !same(got, wantSiLU) {
			if bad++; bad <= 10 {
				t.Errorf("silu(%g) = %g (%#08x), ggml %g (%#08x)", x, got, math.Float32bits(got), wantSiLU, math.Float32bits(wantSiLU))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d results differ from ggml's", bad, 2*n)
	}
}

// TestExpfAccuracy checks ggml's exponential against math.Exp over a
// sweep of [-103, 88]: within its documented 1.45 ulp plus rounding, zero
// below the underflow limit and +Inf above the overflow limit.
func TestExpfAccuracy(t *testing.T) {
	for x := float32(-103); x <= 88; x += 0.0137 {
		got := float64(expf(x))
		want := math.Exp(float64(x))
		ulp := float64(math.Nextafter32(float32(want), float32(math.Inf(1)))) - float64(float32(want))
		if d := math.Abs(got-want) / ulp; d > 2 && want > 0x1p-126 {
			t.Fatalf("expf(%g) = %g, exp %g: %.2f ulp off", x, got, want, d)
		}
	}
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {-104, 0}, {-1000, 0}, {float32(math.Inf(-1)), 0}, {89, float32(math.Inf(1))}, {float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%g) = %g, want %g", c.x, got, c.want)
		}
	}
}
