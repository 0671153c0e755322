package ggml

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
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

// attnHalves returns n random F16 values: normal ones at scale, with
// zeros of both signs, subnormals and large values mixed in.
func attnHalves(rng *rand.Rand, n int, scale float64) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		switch rng.IntN(40) {
		case 0:
			h[i] = 0
		case 1:
			h[i] = 0x8000
		case 2:
			h[i] = uint16(rng.IntN(0x400)) | uint16(rng.IntN(2))<<15 // subnormal
		case 3:
			h[i] = FP32ToFP16(float32(rng.NormFloat64() * 3000))
		default:
			h[i] = FP32ToFP16(float32(rng.NormFloat64() * scale))
		}
	}
	return h
}

// attnLevels are the attention kernels of the sets this CPU runs, fastest
// first, down to the pure-Go ones.
func attnLevels() []vecLevel {
	var ls []vecLevel
	for _, ks := range KernelSets() {
		if !slices.Contains(ls, ks.attn) {
			ls = append(ls, ks.attn)
		}
	}
	return ls
}

// TestScoresF16 checks ScoresF16 against DotF16 of each key row with the
// query (the kernel proven against llama.cpp), and the assembly kernel
// against the Go one bit for bit, over position counts and head sizes
// that exercise every block size and tail.
func TestScoresF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, dim := range []int{1, 3, 8, 64, 80, 128} {
		for _, n := range []int{1, 7, 8, 9, 16, 24, 31, 32, 33, 40, 64, 88, 100, 256} {
			stride := n + rng.IntN(3)*8
			kT := attnHalves(rng, dim*stride, 1)
			qh := attnHalves(rng, dim, 2)
			q := make([]float32, dim)
			FromF16(q, qh)
			scale := float32(0.125)
			row := make([]uint16, dim)
			for _, level := range attnLevels() {
				got := make([]float32, n)
				scoresF16(level, got, kT, stride, q, scale)
				for i := range n {
					for d := range row {
						row[d] = kT[d*stride+i]
					}
					want := DotF16(row, qh) * scale
					if math.Float32bits(got[i]) != math.Float32bits(want) {
						t.Fatalf("%s, dim %d, %d positions: score %d is %v, DotF16 gives %v", level, dim, n, i, got[i], want)
					}
				}
			}
		}
	}
}

// TestAccumulateF16 checks AccumulateF16 against DotF16 of each value
// column with the weights, and the assembly kernel against the Go one bit
// for bit, including zero weights (skipped) and a non-zero start.
func TestAccumulateF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, dim := range []int{1, 5, 8, 16, 24, 32, 40, 64, 72, 96, 128, 136} {
		for _, n := range []int{1, 2, 9, 100, 300} {
			stride := dim + rng.IntN(3)*8
			values := attnHalves(rng, n*stride, 1)
			ph := attnHalves(rng, n, 0.05)
			for i := range ph {
				ph[i] &^= 0x8000 // probabilities are not negative
				if rng.IntN(4) == 0 {
					ph[i] = 0
				}
			}
			p := make([]float32, n)
			FromF16(p, ph)
			start := make([]float64, dim)
			for d := range start {
				start[d] = float64(rng.IntN(5))
			}
			goOnly := append([]float64(nil), start...)
			accumulateF16(vecGo, goOnly, values, stride, p)
			for _, level := range attnLevels() {
				got := append([]float64(nil), start...)
				accumulateF16(level, got, values, stride, p)
				for d := range dim {
					if math.Float64bits(got[d]) != math.Float64bits(goOnly[d]) {
						t.Fatalf("%s, dim %d, %d positions: element %d is %v, Go gives %v", level, dim, n, d, got[d], goOnly[d])
					}
				}
			}
			col := make([]uint16, n)
			for d := range dim {
				for j := range col {
					col[j] = values[j*stride+d]
				}
				zero := []float64{0}
				AccumulateF16(zero, values[d:], stride, p)
				if want := DotF16(col, ph); float32(zero[0]) != want {
					t.Fatalf("dim %d, %d positions: element %d from zero is %v, DotF16 gives %v", dim, n, d, zero[0], want)
				}
			}
		}
	}
}

func BenchmarkScoresF16(b *testing.B) {
	rng := rand.New(rand.NewPCG(21, 22))
	const dim = 64
	for _, n := range []int{32, 256} {
		kT := attnHalves(rng, dim*n, 1)
		q := make([]float32, dim)
		FromF16(q, attnHalves(rng, dim, 1))
		dst := make([]float32, n)
		for _, impl := range attnLevels() {
			b.Run(fmt.Sprintf("n=%d/%s", n, impl), func(b *testing.B) {
				for b.Loop() {
					scoresF16(impl, dst, kT, n, q, 0.125)
				}
				b.ReportMetric(float64(2*dim*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkAccumulateF16(b *testing.B) {
	rng := rand.New(rand.NewPCG(23, 24))
	const dim = 64
	for _, n := range []int{32, 256} {
		values := attnHalves(rng, dim*n, 1)
		p := make([]float32, n)
		FromF16(p, attnHalves(rng, n, 0.01))
		acc := make([]float64, dim)
		for _, impl := range attnLevels() {
			b.Run(fmt.Sprintf("n=%d/%s", n, impl), func(b *testing.B) {
				for b.Loop() {
					accumulateF16(impl, acc, values, dim, p)
				}
				b.ReportMetric(float64(2*dim*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestAccumulateF16SkipsZeroWeights checks that a zero weight leaves an
// infinite value out (0·Inf would be NaN), as the scalar attention does.
func TestAccumulateF16SkipsZeroWeights(t *testing.T) {
	const dim, n = 40, 3
	values := make([]uint16, dim*n)
	for d := range dim {
		values[d] = 0x7c00            // +Inf, weight 0
		values[dim+d] = FP32ToFP16(1) // weight 0.5
		values[2*dim+d] = 0xfc00      // -Inf, weight -0
	}
	for _, impl := range attnLevels() {
		acc := make([]float64, dim)
		accumulateF16(impl, acc, values, dim, []float32{0, 0.5, float32(math.Copysign(0, -1))})
		for d, v := range acc {
			if v != 0.5 {
				t.Fatalf("%s: element %d is %v, want 0.5", impl, d, v)
			}
		}
	}
}
