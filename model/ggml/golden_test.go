package ggml

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
)

// The golden fixtures come from the real ggml (libggml-base.so and
// libggml-cpu-<variant>.so bundled with node-llama-cpp, llama.cpp release
// named in testdata/golden-source.json), written by
// scripts/reference/ggml-golden.sh:
//
//   - golden-x64.bin.gz: the portable CPU build (no SIMD). Its kernels are
//     the ones chatloop implements, so everything must match bit for bit.
//   - golden-haswell.bin.gz: the AVX2 build. Activation quantization must
//     match bit for bit (RoundAVX); the dot products add the same exact
//     integer block sums in a different float order (8-lane FMA), so they
//     must agree within goldenTol.

type golden map[string][]byte

func loadGolden(t testing.TB, name string) golden {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	g := golden{}
	for len(raw) > 0 {
		n := int(binary.LittleEndian.Uint16(raw))
		key := string(raw[2 : 2+n])
		raw = raw[2+n:]
		m := int(binary.LittleEndian.Uint32(raw))
		g[key] = raw[4 : 4+m]
		raw = raw[4+m:]
	}
	return g
}

func (g golden) get(t testing.TB, key string) []byte {
	t.Helper()
	b, ok := g[key]
	if !ok {
		t.Fatalf("fixture has no %q", key)
	}
	return b
}

func (g golden) floats(t testing.TB, key string) []float32 {
	b := g.get(t, key)
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

func (g golden) u16s(t testing.TB, key string) []uint16 {
	b := g.get(t, key)
	h := make([]uint16, len(b)/2)
	for i := range h {
		h[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return h
}

func (g golden) dims(t testing.TB) (rows, cols int) {
	d := g.get(t, "dims")
	return int(binary.LittleEndian.Uint32(d)), int(binary.LittleEndian.Uint32(d[4:]))
}

var (
	goldenTypes   = []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K}
	goldenWeights = []string{"normal", "wide", "special"}
	goldenActs    = []string{"normal", "special"}
)

// tn is ggml's type_name ("q4_K").
func tn(t Type) string { return strings.ReplaceAll(strings.ToLower(t.String()), "_k", "_K") }

func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

func TestGoldenFP16Widen(t *testing.T) {
	g := loadGolden(t, "golden-x64.bin.gz")
	want := g.floats(t, "fp16_to_fp32")
	for i, w := range want {
		if got := FP16ToFP32(uint16(i)); !sameBits(got, w) {
			t.Fatalf("FP16ToFP32(%#04x) = %#08x, ggml %#08x", i, math.Float32bits(got), math.Float32bits(w))
		}
	}
	for i := 0; i < 1<<16; i++ {
		if got, want := BF16ToFP32(uint16(i)), math.Float32frombits(uint32(i)<<16); !sameBits(got, want) {
			t.Fatalf("BF16ToFP32(%#04x) = %v", i, got)
		}
	}
}

func TestGoldenNarrow(t *testing.T) {
	for _, file := range []string{"golden-x64.bin.gz", "golden-haswell.bin.gz"} {
		g := loadGolden(t, file)
		in := g.floats(t, "narrow_in")
		checks := []struct {
			key string
			fn  func(float32) uint16
		}{{"fp32_to_fp16", FP32ToFP16}, {"cpu_fp32_to_fp16", FP32ToFP16}, {"fp32_to_bf16", FP32ToBF16}, {"cpu_fp32_to_bf16", FP32ToBF16}}
		for _, c := range checks {
			if _, ok := g[c.key]; !ok {
				continue
			}
			want := g.u16s(t, c.key)
			bad := 0
			for i, f := range in {
				got := c.fn(f)
				if got == want[i] {
					continue
				}
				// The F16C instruction keeps a NaN's payload where the
				// portable code writes 0x7E00; ggml never produces NaN
				// activations on purpose, so only the NaN-ness must agree.
				if f != f && strings.HasPrefix(c.key, "cpu_fp32_to_fp16") && want[i]&0x7c00 == 0x7c00 && want[i]&0x3ff != 0 {
					continue
				}
				if bad++; bad < 5 {
					t.Errorf("%s %s(%#08x) = %#04x, ggml %#04x", file, c.key, math.Float32bits(f), got, want[i])
				}
			}
			if bad > 0 {
				t.Errorf("%s %s: %d of %d differ", file, c.key, bad, len(in))
			}
		}
	}
}

func TestGoldenQuantize(t *testing.T) {
	g := loadGolden(t, "golden-x64.bin.gz")
	for _, typ := range goldenTypes {
		for _, ws := range goldenWeights {
			w := g.floats(t, "w/"+ws)
			got, err := Quantize(typ, w)
			if err != nil {
				t.Fatal(typ, err)
			}
			want := g.get(t, fmt.Sprintf("q/%s/%s", tn(typ), ws))
			if !bytes.Equal(got, want) {
				t.Errorf("Quantize(%s, %s): %s", typ, ws, firstByteDiff(got, want, typ.TypeSize()))
			}
		}
	}
}

func firstByteDiff(got, want []byte, block int) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bytes, ggml %d", len(got), len(want))
	}
	n := 0
	first := -1
	for i := range got {
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	b := first / block
	return fmt.Sprintf("%d bytes differ; first at byte %d (block %d): got % x, ggml % x", n, first, b,
		got[b*block:(b+1)*block], want[b*block:(b+1)*block])
}

func TestGoldenDequantize(t *testing.T) {
	g := loadGolden(t, "golden-x64.bin.gz")
	for _, typ := range goldenTypes {
		for _, ws := range goldenWeights {
			q := g.get(t, fmt.Sprintf("q/%s/%s", tn(typ), ws))
			want := g.floats(t, fmt.Sprintf("deq/%s/%s", tn(typ), ws))
			got := make([]float32, len(want))
			if err := Dequantize(typ, q, got); err != nil {
				t.Fatal(typ, err)
			}
			for i := range got {
				if !sameBits(got[i], want[i]) {
					t.Errorf("Dequantize(%s, %s)[%d] = %v, ggml %v", typ, ws, i, got[i], want[i])
					break
				}
			}
		}
	}
}

func TestGoldenActivations(t *testing.T) {
	for _, c := range []struct {
		file string
		r    Rounding
	}{{"golden-x64.bin.gz", RoundRef}, {"golden-haswell.bin.gz", RoundAVX}} {
		g := loadGolden(t, c.file)
		for _, xs := range goldenActs {
			x := g.floats(t, "x/"+xs)
			// a weight type for each activation format
			for _, w := range []Type{Q8_0, Q4_1, Q4_K, F16, BF16} {
				a := Activation{Rounding: c.r}
				a.Prepare(x, w)
				if a.Err() != nil {
					t.Fatal(a.Err())
				}
				want := g.get(t, fmt.Sprintf("act/%s/%s", tn(a.Type()), xs))
				if got := a.Bytes(); !bytes.Equal(got, want) {
					t.Errorf("%s: activation %s/%s: %s", c.file, a.Type(), xs, firstByteDiff(got, want, a.Type().TypeSize()))
				}
			}
		}
	}
}

// goldenTol bounds the difference between our dot products and ggml's
// SIMD ones: 2^-20 of the magnitude of the terms summed (a few float32
// ulps of it), the reordering error of float32 sums of block products.
const goldenTol = 1.0 / (1 << 20)

// termMagnitudes returns, per row, Σ|terms| of the dot products with x:
// Σ|wᵢxᵢ|, and for the types with block minimums (w = d·q + m) the scale
// and minimum parts counted separately, Σ|d·qᵢ·xᵢ| + Σ|m·xᵢ|, since ggml
// adds them up separately and they may cancel.
func termMagnitudes(t testing.TB, typ Type, w []byte, rows, cols int, x []float32) []float64 {
	deq := make([]float32, rows*cols)
	if err := Dequantize(typ, w, deq); err != nil {
		t.Fatal(err)
	}
	scaled := deq
	switch typ {
	case Q4_1, Q5_1, Q4_K, Q5_K: // the minimum's F16 sits at bytes 2..3 of each block
		nw := append([]byte(nil), w...)
		for o := 0; o < len(nw); o += typ.TypeSize() {
			nw[o+2], nw[o+3] = 0, 0
		}
		scaled = make([]float32, rows*cols)
		if err := Dequantize(typ, nw, scaled); err != nil {
			t.Fatal(err)
		}
	}
	mag := make([]float64, rows)
	for r := range mag {
		for i := 0; i < cols; i++ {
			s := float64(scaled[r*cols+i])
			m := float64(deq[r*cols+i]) - s
			mag[r] += (math.Abs(s) + math.Abs(m)) * math.Abs(float64(x[i]))
		}
	}
	return mag
}

func TestGoldenMatVec(t *testing.T) {
	for _, c := range []struct {
		file  string
		r     Rounding
		exact bool
	}{{"golden-x64.bin.gz", RoundRef, true}, {"golden-haswell.bin.gz", RoundAVX, false}} {
		g := loadGolden(t, c.file)
		x64 := loadGolden(t, "golden-x64.bin.gz")
		rows, cols := g.dims(t)
		var worst float64
		for _, typ := range goldenTypes {
			if _, ok := VecDotType(typ); !ok {
				continue
			}
			for _, ws := range goldenWeights {
				w := x64.get(t, fmt.Sprintf("q/%s/%s", tn(typ), ws))
				for _, xs := range goldenActs {
					x := g.floats(t, "x/"+xs)
					want := g.floats(t, fmt.Sprintf("dot/%s/%s/%s", tn(typ), ws, xs))
					a := Activation{Rounding: c.r}
					a.Prepare(x, typ)
					got := make([]float32, rows)
					for _, ks := range KernelSets() { // the row kernels of each
						if err := matVecPrepared(ks, typ, w, rows, cols, &a, got); err != nil {
							t.Fatal(err)
						}
						for r := range got {
							if c.exact && !sameBits(got[r], want[r]) {
								t.Errorf("%s: kernels %s: %s %s·%s row %d = %v, ggml %v", c.file, ks, typ, ws, xs, r, got[r], want[r])
							}
						}
					}
					for r := range got {
						if c.exact {
							continue
						}
						mag := termMagnitudes(t, typ, w, rows, cols, x)[r]
						diff := math.Abs(float64(got[r]) - float64(want[r]))
						if diff > goldenTol*mag {
							t.Errorf("%s: %s %s·%s row %d = %v, ggml %v (diff %.3g, allowed %.3g)", c.file, typ, ws, xs, r, got[r], want[r], diff, goldenTol*mag)
						}
						if mag > 0 {
							worst = max(worst, diff/mag)
						}
					}
				}
			}
		}
		if !c.exact {
			t.Logf("%s: worst |Δ|/Σ|terms| = %.3g (allowed %.3g)", c.file, worst, goldenTol)
		}
	}
}

// TestGoldenMulMatOp compares with ggml's whole mul_mat operator (the path
// llama.cpp's graphs take, where the AVX2 build may hand the product to
// llamafile's tinyBLAS instead of vec_dot), for one activation column and
// for a batch of five through Pool.MatMul.
func TestGoldenMulMatOp(t *testing.T) {
	for _, ks := range KernelSets() {
		t.Run(ks.Name(), func(t *testing.T) { testGoldenMulMatOp(t, ks) })
	}
}

// testGoldenMulMatOp is TestGoldenMulMatOp with the kernel set ks, packed
// matrices included where ks packs them.
func testGoldenMulMatOp(t *testing.T, ks *Kernels) {
	x64 := loadGolden(t, "golden-x64.bin.gz")
	p := NewPoolWith(2, ks)
	defer p.Close()
	for _, c := range []struct {
		file  string
		r     Rounding
		exact bool
	}{{"golden-x64.bin.gz", RoundRef, true}, {"golden-haswell.bin.gz", RoundAVX, false}} {
		g := loadGolden(t, c.file)
		rows, cols := g.dims(t)
		xb := g.floats(t, "xbatch")
		batch := len(xb) / cols
		var worst float64
		check := func(what string, got, want float32, w []byte, typ Type, x []float32, r int) {
			if c.exact {
				if !sameBits(got, want) {
					t.Errorf("%s: %s row %d = %v, ggml mul_mat %v", c.file, what, r, got, want)
				}
				return
			}
			mag := termMagnitudes(t, typ, w, rows, cols, x)[r]
			diff := math.Abs(float64(got) - float64(want))
			if diff > goldenTol*mag {
				t.Errorf("%s: %s row %d = %v, ggml mul_mat %v (diff %.3g, allowed %.3g)", c.file, what, r, got, want, diff, goldenTol*mag)
			}
			if mag > 0 {
				worst = max(worst, diff/mag)
			}
		}
		for _, typ := range goldenTypes {
			if _, ok := VecDotType(typ); !ok {
				continue
			}
			for _, ws := range goldenWeights {
				w := x64.get(t, fmt.Sprintf("q/%s/%s", tn(typ), ws))
				for _, xs := range goldenActs {
					x := g.floats(t, "x/"+xs)
					want := g.floats(t, fmt.Sprintf("mulmat/%s/%s/%s", tn(typ), ws, xs))
					a := Activation{Rounding: c.r}
					a.Prepare(x, typ)
					got := make([]float32, rows)
					if err := p.MatVec(typ, w, rows, cols, &a, got); err != nil {
						t.Fatal(err)
					}
					for r := range got {
						check(fmt.Sprintf("%s %s·%s", typ, ws, xs), got[r], want[r], w, typ, x, r)
					}
				}
				acts := make([]*Activation, batch)
				ys := make([][]float32, batch)
				for i := range acts {
					acts[i] = &Activation{Rounding: c.r}
					acts[i].Prepare(xb[i*cols:(i+1)*cols], typ)
					ys[i] = make([]float32, rows)
				}
				if err := p.MatMul(typ, w, rows, cols, acts, ys); err != nil {
					t.Fatal(err)
				}
				want := g.floats(t, fmt.Sprintf("mulmat/%s/%s/batch", tn(typ), ws))
				for i := range ys {
					for r := range ys[i] {
						check(fmt.Sprintf("%s %s batch column %d", typ, ws, i), ys[i][r], want[i*rows+r], w, typ, xb[i*cols:(i+1)*cols], r)
					}
				}
				// the packed kernels interleave 16 rows: the matrix's rows
				// repeated fill a group, each row checked against its own
				// ggml result
				reps := 16 / rows
				if reps*rows != 16 || !ks.Packable(typ, 16, cols) {
					continue
				}
				w16 := bytes.Repeat(w, reps)
				packed := make([]byte, len(w16))
				if err := p.Pack(typ, packed, w16, 16, cols); err != nil {
					t.Fatal(err)
				}
				ys16 := make([][]float32, batch)
				for i := range ys16 {
					ys16[i] = make([]float32, 16)
				}
				if err := p.MatMulPacked(typ, packed, 16, cols, acts, ys16); err != nil {
					t.Fatal(err)
				}
				for i := range ys16 {
					for r16, y := range ys16[i] {
						r := r16 % rows
						check(fmt.Sprintf("%s %s packed, batch column %d, row %d", typ, ws, i, r16), y, want[i*rows+r], w, typ, xb[i*cols:(i+1)*cols], r)
					}
				}
			}
		}
		if !c.exact {
			t.Logf("%s: worst |Δ|/Σ|terms| against mul_mat = %.3g (allowed %.3g)", c.file, worst, goldenTol)
		}
	}
}
