package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// q8Ref holds one quantization of a row by quantizeQ8_0Ref or its
// assembly twin.
type q8Ref struct {
	qs  []int8
	d   []float32
	nsq []int32
}

func newQ8Ref(n int) q8Ref {
	return q8Ref{make([]int8, n), make([]float32, n/32), make([]int32, n/32)}
}

// q8AsmLevels are the assembly quantizers of the sets this CPU runs,
// fastest first.
func q8AsmLevels() []vecLevel {
	var ls []vecLevel
	for _, ks := range KernelSets() {
		if ks.q8 > vecGo && !slices.Contains(ls, ks.q8) {
			ls = append(ls, ks.q8)
		}
	}
	return ls
}

// forEachQ8Asm runs f as a subtest once per assembly quantizer, and skips
// where there is none (noasm builds, CPUs without AVX2).
func forEachQ8Asm(t *testing.T, f func(t *testing.T, lv vecLevel)) {
	ls := q8AsmLevels()
	if len(ls) == 0 {
		t.Skip("no assembly Q8_0 quantizer in this build or on this CPU")
	}
	for _, lv := range ls {
		t.Run(lv.String(), func(t *testing.T) { f(t, lv) })
	}
}

// diffQ8Ref quantizes x with the Go code and the assembly of level lv and
// describes the first difference, bitwise, or returns "".
func diffQ8Ref(lv vecLevel, x []float32) string {
	n := len(x) / 32 * 32
	want, got := newQ8Ref(n), newQ8Ref(n)
	// Poison the outputs so a block the assembly skips shows up.
	for i := range got.qs {
		got.qs[i] = 0x5a
	}
	for i := range got.d {
		got.d[i], got.nsq[i] = float32(math.NaN()), 0x5a5a5a5a
	}
	quantizeQ8_0Ref(x[:n], want.qs, want.d, want.nsq)
	if !quantizeQ8_0RefAsm(lv, x[:n], got.qs, got.d, got.nsq) {
		return "assembly quantizer declined"
	}
	for b := 0; b < n/32; b++ {
		blk := x[32*b : 32*b+32]
		if math.Float32bits(got.d[b]) != math.Float32bits(want.d[b]) {
			return fmt.Sprintf("block %d: d = %#x, want %#x (x = %v)", b, math.Float32bits(got.d[b]), math.Float32bits(want.d[b]), blk)
		}
		if got.nsq[b] != want.nsq[b] {
			return fmt.Sprintf("block %d: nsq = %d, want %d (x = %v)", b, got.nsq[b], want.nsq[b], blk)
		}
		for j := 0; j < 32; j++ {
			if got.qs[32*b+j] != want.qs[32*b+j] {
				return fmt.Sprintf("block %d element %d: x = %g (%#x): q = %d, want %d (block %v)", b, j,
					blk[j], math.Float32bits(blk[j]), got.qs[32*b+j], want.qs[32*b+j], blk)
			}
		}
	}
	return ""
}

func TestQuantQ8RefAsmRandom(t *testing.T) {
	forEachQ8Asm(t, func(t *testing.T, lv vecLevel) {
		rng := rand.New(rand.NewPCG(8, 0))
		for iter := 0; iter < 2000; iter++ {
			n := 32 * (1 + rng.IntN(40))
			x := make([]float32, n)
			// Scales across the whole exponent range, down into subnormals.
			scale := float32(math.Ldexp(1, rng.IntN(270)-150))
			for i := range x {
				x[i] = float32(rng.NormFloat64()) * scale
			}
			if msg := diffQ8Ref(lv, x); msg != "" {
				t.Fatalf("iteration %d, scale %g: %s", iter, scale, msg)
			}
		}
	})
}

// q8Specials are values at the edges: signed zeros, subnormals, infinities,
// NaNs with and without payload and sign, the extremes of float32.
var q8Specials = []float32{
	0, float32(math.Copysign(0, -1)),
	math.Float32frombits(1), math.Float32frombits(0x80000001),
	math.Float32frombits(0x007fffff), math.Float32frombits(0x807fffff),
	math.SmallestNonzeroFloat32 * 127, math.SmallestNonzeroFloat32 * 100,
	float32(math.Inf(1)), float32(math.Inf(-1)),
	float32(math.NaN()), math.Float32frombits(0xffc00000), math.Float32frombits(0x7f800001),
	math.Float32frombits(0xff812345),
	math.MaxFloat32, -math.MaxFloat32,
	0x1p-126, -0x1p-126, 0x1p-121, 127 * 0x1p-128, 127 * 0x1p-126,
	65504 * 127, 65520 * 127, 6e-8 * 127,
	1, -1, 0.5, -0.5, 127, -127,
}

func TestQuantQ8RefAsmSpecials(t *testing.T) {
	forEachQ8Asm(t, func(t *testing.T, lv vecLevel) {
		rng := rand.New(rand.NewPCG(8, 1))
		pick := func() float32 { return q8Specials[rng.IntN(len(q8Specials))] }
		for iter := 0; iter < 5000; iter++ {
			x := make([]float32, 32*(1+rng.IntN(4)))
			for i := range x {
				switch rng.IntN(3) {
				case 0:
					x[i] = pick()
				case 1:
					x[i] = float32(rng.NormFloat64()) * pick()
				default:
					x[i] = float32(rng.NormFloat64())
				}
			}
			if msg := diffQ8Ref(lv, x); msg != "" {
				t.Fatalf("iteration %d: %s", iter, msg)
			}
		}
		// Whole blocks of one special value.
		for _, v := range q8Specials {
			x := make([]float32, 32)
			for i := range x {
				x[i] = v
			}
			if msg := diffQ8Ref(lv, x); msg != "" {
				t.Fatalf("block of %g: %s", v, msg)
			}
		}
	})
}

// TestQuantQ8RefAsmTies puts x*id exactly on the .5 rounding boundaries and
// one ulp to either side, for several scales, where round-half-away and
// other roundings part.
func TestQuantQ8RefAsmTies(t *testing.T) {
	forEachQ8Asm(t, func(t *testing.T, lv vecLevel) {
		rng := rand.New(rand.NewPCG(8, 2))
		for _, e := range []int{-140, -130, -126, -100, -20, -1, 0, 1, 7, 20, 100, 120} {
			amax := float32(math.Ldexp(127, e)) // d = 2^e exactly, id = 2^-e
			for iter := 0; iter < 200; iter++ {
				x := make([]float32, 64)
				for i := range x {
					k := float32(rng.IntN(255) - 127)
					v := (k + 0.5) * float32(math.Ldexp(1, e))
					switch rng.IntN(4) {
					case 1:
						v = math.Nextafter32(v, float32(math.Inf(1)))
					case 2:
						v = math.Nextafter32(v, float32(math.Inf(-1)))
					case 3:
						v = k * float32(math.Ldexp(1, e))
					}
					x[i] = v
				}
				x[rng.IntN(32)], x[32+rng.IntN(32)] = amax, -amax
				if msg := diffQ8Ref(lv, x); msg != "" {
					t.Fatalf("d = 2^%d, iteration %d: %s", e, iter, msg)
				}
			}
		}
		// Scales that are not powers of two: x*id then lands near, not on, .5.
		for iter := 0; iter < 2000; iter++ {
			x := make([]float32, 32)
			amax := float32(rng.Float64()*10 + 0.1)
			d := amax / 127
			for i := range x {
				k := float32(rng.IntN(255) - 127)
				v := (k + 0.5) * d
				for s := rng.IntN(5) - 2; s != 0; {
					if s > 0 {
						v, s = math.Nextafter32(v, float32(math.Inf(1))), s-1
					} else {
						v, s = math.Nextafter32(v, float32(math.Inf(-1))), s+1
					}
				}
				x[i] = v
			}
			x[rng.IntN(32)] = amax
			if msg := diffQ8Ref(lv, x); msg != "" {
				t.Fatalf("amax %g, iteration %d: %s", amax, iter, msg)
			}
		}
	})
}

// TestPrepareQ8_0RefAsm checks Prepare itself with the assembly on and
// off: the same bytes, the same quant sums, and no allocations.
func TestPrepareQ8_0RefAsm(t *testing.T) {
	forEachQ8Asm(t, func(t *testing.T, lv vecLevel) {
		rng := rand.New(rand.NewPCG(8, 3))
		for _, n := range []int{32, 896, 4864} {
			x := randFloats(rng, n, 1)
			x[5] = float32(math.NaN())
			got := Activation{Rounding: RoundRef}
			got.prepare(x, Q8_0, lv)
			want := Activation{Rounding: RoundRef}
			want.prepare(x, Q8_0, vecGo)
			if got.Err() != nil || want.Err() != nil {
				t.Fatalf("n=%d: errors %v, %v", n, got.Err(), want.Err())
			}
			if string(got.Bytes()) != string(want.Bytes()) {
				t.Fatalf("n=%d: prepared bytes differ", n)
			}
			for i := range want.nsq {
				if got.nsq[i] != want.nsq[i] {
					t.Fatalf("n=%d block %d: nsq %d, want %d", n, i, got.nsq[i], want.nsq[i])
				}
			}
			if allocs := testing.AllocsPerRun(20, func() { got.prepare(x, Q8_0, lv) }); allocs != 0 {
				t.Fatalf("n=%d: %v allocations per Prepare", n, allocs)
			}
		}
	})
}

// FuzzQuantQ8RefAsm reads the input as little-endian float32s (padded with
// zeros to whole blocks) and compares the quantizers bit for bit.
func FuzzQuantQ8RefAsm(f *testing.F) {
	le := binary.LittleEndian
	seed := func(vs ...float32) []byte {
		b := make([]byte, 4*len(vs))
		for i, v := range vs {
			le.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	f.Add([]byte{})
	f.Add(seed(1, -0.5, 0.5, 127, -127))
	f.Add(seed(q8Specials...))
	f.Add(seed(float32(math.NaN()), float32(math.Inf(1)), 3))
	f.Add(seed(254, 1.5, 2.5, -3.5, 0.49999997))
	f.Fuzz(func(t *testing.T, b []byte) {
		ls := q8AsmLevels()
		if len(ls) == 0 {
			t.Skip("no assembly Q8_0 quantizer in this build or on this CPU")
		}
		n := (len(b)/4 + 31) / 32 * 32
		x := make([]float32, n)
		for i := 0; i < len(b)/4; i++ {
			x[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		for _, lv := range ls {
			if msg := diffQ8Ref(lv, x); msg != "" {
				t.Fatalf("%s: %s", lv, msg)
			}
		}
	})
}

// BenchmarkQuantQ8Ref compares the Go and assembly Q8_0 activation
// quantizers on the engine's row lengths (Qwen2.5-0.5B: 896 and 4864).
func BenchmarkQuantQ8Ref(b *testing.B) {
	rng := rand.New(rand.NewPCG(8, 4))
	for _, n := range []int{896, 4864} {
		x := randFloats(rng, n, 1)
		out := newQ8Ref(n)
		b.Run(fmt.Sprintf("n=%d/impl=go", n), func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			b.ReportAllocs()
			for b.Loop() {
				quantizeQ8_0Ref(x, out.qs, out.d, out.nsq)
			}
		})
		for _, lv := range q8AsmLevels() {
			b.Run(fmt.Sprintf("n=%d/impl=%s", n, lv), func(b *testing.B) {
				b.SetBytes(int64(4 * n))
				b.ReportAllocs()
				for b.Loop() {
					quantizeQ8_0RefAsm(lv, x, out.qs, out.d, out.nsq)
				}
			})
		}
	}
}
