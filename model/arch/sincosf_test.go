package arch

import (
	"encoding/binary"
	"math"
	"os"
	"testing"
)

// TestSincosfMatchesGlibc checks sincosf bit for bit against glibc's sinf,
// cosf and sincosf (the FMA build of glibc 2.36, which ggml's rope calls
// in llama.cpp's process) on the inputs of testdata/glibc-sincosf.bin
// (scripts/reference/llama-dump-exp.sh): every 2^19th float32 bit
// pattern, the angles of Qwen2.5 and Llama 3 rope tables at random
// positions up to 32768, and random values in [0, 40000) and [-4, 4).
func TestSincosfMatchesGlibc(t *testing.T) {
	b, err := os.ReadFile("testdata/glibc-sincosf.bin")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4 {
		t.Fatal("glibc-sincosf.bin: truncated")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if len(b) != 4+20*n {
		t.Fatalf("glibc-sincosf.bin: %d bytes for %d records", len(b), n)
	}
	f := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[4+4*i:])) }
	same := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
	}
	bad, rounded := 0, 0
	for i := range n {
		x := f(5 * i)
		s, c := sincosf(x)
		for k, want := range []float32{f(5*i + 1), f(5*i + 2), f(5*i + 3), f(5*i + 4)} {
			got := s
			if k%2 == 1 {
				got = c
			}
			if !same(got, want) {
				if bad++; bad <= 10 {
					t.Errorf("sincosf(%g): %s %g (%#08x), glibc %g (%#08x)", x, [...]string{"sin", "cos"}[k%2], got, math.Float32bits(got), want, math.Float32bits(want))
				}
			}
		}
		if float32(math.Sin(float64(x))) != s || float32(math.Cos(float64(x))) != c {
			rounded++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d results differ from glibc's", bad, 4*n)
	}
	// The reason for porting glibc: its results are not the correctly
	// rounded ones often enough to matter.
	if rounded == 0 {
		t.Errorf("no input where glibc's sinf/cosf differ from the correctly rounded sine and cosine: the fixture no longer tests anything")
	}
	t.Logf("%d inputs; glibc's sine or cosine differs from the correctly rounded one on %d", n, rounded)
}

// ulpsApart is how many float32 steps lie between a and b (same sign).
func ulpsApart(a, b float32) int64 {
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

// FuzzSincosf checks, for any float32, that sincosf stays within one ulp
// of the correctly rounded sine and cosine (glibc's bound is 0.56 ulp)
// and gives NaN for infinities and NaN.
func FuzzSincosf(f *testing.F) {
	for _, x := range []float32{0, -0.0, 1e-30, 0x1p-12, 0.75, 0.7853982, 1, 3.1415927, 119.99, 120, 1e4, 32767.5, 1e20, 3.4e38, -5.5} {
		f.Add(math.Float32bits(x))
	}
	f.Fuzz(func(t *testing.T, bits uint32) {
		x := math.Float32frombits(bits)
		s, c := sincosf(x)
		if math.IsInf(float64(x), 0) || x != x {
			if s == s || c == c {
				t.Fatalf("sincosf(%g) = %g, %g, want NaN", x, s, c)
			}
			return
		}
		ws, wc := float32(math.Sin(float64(x))), float32(math.Cos(float64(x)))
		if math.Signbit(float64(s)) != math.Signbit(float64(ws)) && s != 0 && ws != 0 || ulpsApart(s, ws) > 1 {
			t.Fatalf("sin(%g) = %g, correctly rounded %g", x, s, ws)
		}
		if math.Signbit(float64(c)) != math.Signbit(float64(wc)) && c != 0 && wc != 0 || ulpsApart(c, wc) > 1 {
			t.Fatalf("cos(%g) = %g, correctly rounded %g", x, c, wc)
		}
	})
}

// FuzzExpf checks, for any float32, that ggml's exponential is within 2
// ulp of the correctly rounded one where that is a normal float, zero far
// below and +Inf far above, and never negative or NaN for a number.
func FuzzExpf(f *testing.F) {
	for _, x := range []float32{0, -0.0, 1, -1, 88.3, 88.4, 88.8, -87.3, -87.4, -103.9, -104, -150, 1e-8, -30.5} {
		f.Add(math.Float32bits(x))
	}
	f.Fuzz(func(t *testing.T, bits uint32) {
		x := math.Float32frombits(bits)
		got := expf(x)
		if x != x {
			return // NaN in, anything out, as ggml
		}
		want := math.Exp(float64(x))
		switch {
		case got < 0 || got != got:
			t.Fatalf("expf(%g) = %g", x, got)
		case x > 89 && !math.IsInf(float64(got), 1), x < -104 && got != 0:
			t.Fatalf("expf(%g) = %g, want it flushed", x, got)
		case want >= 0x1p-126 && want < math.MaxFloat32:
			if d := ulpsApart(got, float32(want)); d > 2 {
				t.Fatalf("expf(%g) = %g, correctly rounded %g: %d ulp apart", x, got, float32(want), d)
			}
		}
	})
}
