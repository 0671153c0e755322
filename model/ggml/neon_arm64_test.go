//go:build !noasm && arm64

package ggml

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// The NEON kernels against the pure-Go ones, bit for bit. Run them here
// under qemu-user (docs/engine.md, "arm64"): -cpu max has dotprod and
// i8mm, neoverse-n1 dotprod only, cortex-a72 neither.

var neonTypes = []Type{Q8_0, Q4_0, Q4_K, Q6_K}

// neonSets are the NEON kernel sets this CPU runs.
func neonSets() []*Kernels {
	var sets []*Kernels
	for _, ks := range KernelSets() {
		if ks.level == levelNEONDot || ks.level == levelNEONI8MM {
			sets = append(sets, ks)
		}
	}
	return sets
}

func sameFunc(a, b any) bool { return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() }

// TestNEONSets: the sets follow the CPU's features, and each NEON set
// really holds the NEON kernels (a set that fell back to Go would pass
// every differential test).
func TestNEONSets(t *testing.T) {
	var names []string
	for _, ks := range KernelSets() {
		names = append(names, ks.Name())
	}
	t.Logf("features: asimd %v, dotprod %v, i8mm %v; sets %v; %v", cpuFeatures.asimd, cpuFeatures.dotprod, cpuFeatures.i8mm, names, KernelPaths())
	want := []string{"go"}
	if cpuFeatures.dotprod {
		want = append([]string{"neon-dotprod"}, want...)
		if cpuFeatures.i8mm {
			want = append([]string{"neon-i8mm"}, want...)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("sets %v, want %v", names, want)
	}
	if !cpuFeatures.asimd {
		t.Error("an arm64 CPU without NEON")
	}
	for _, ks := range KernelSets() {
		want := vecNEON
		if ks.level == levelGo {
			want = vecGo
		}
		if ks.q8 != want || ks.attn != vecGo || ks.VectorBits() != 0 {
			t.Errorf("%s: quantizer %s, attention %s, vector bits %d; want %s, go, 0", ks, ks.q8, ks.attn, ks.VectorBits(), want)
		}
	}
	for _, ks := range neonSets() {
		for _, typ := range neonTypes {
			dot, mat := neonKernels(typ, ks.level)
			k := ks.kernelsFor(typ)
			if dot == nil || !sameFunc(k.dot, dot) {
				t.Errorf("%s: %s runs no NEON row kernel", ks, typ)
			}
			wantMat := ks.level == levelNEONI8MM && typ.BlockSize() == 32
			if (k.mat != nil) != wantMat || wantMat && !sameFunc(k.mat, mat) {
				t.Errorf("%s: %s matrix kernel %v, want one: %v", ks, typ, k.mat != nil, wantMat)
			}
		}
		if k := ks.kernelsFor(Q5_K); !sameFunc(k.dot, dotQ5_K) {
			t.Errorf("%s: Q5_K should run the Go kernel", ks)
		}
	}
}

// neonCase is a weight matrix and activations prepared for it.
type neonCase struct {
	typ        Type
	rows, cols int
	w          []byte
	acts       []*Activation
}

// newNEONCase builds rows×cols weights of typ (quantized from random
// floats, or random bytes: any scale, NaN and Inf included) and nact
// activations (prepared from floats with either rounding, or with their
// quants overwritten by random int8s, -128 included).
func newNEONCase(t testing.TB, rng *rand.Rand, typ Type, rows, cols, nact int, raw bool) neonCase {
	c := neonCase{typ: typ, rows: rows, cols: cols}
	rs, err := typ.RowSize(int64(cols))
	if err != nil {
		t.Fatal(err)
	}
	if raw {
		c.w = make([]byte, rows*int(rs))
		for i := range c.w {
			c.w[i] = byte(rng.Uint32())
		}
	} else if c.w, err = Quantize(typ, randFloats(rng, rows*cols, 0.1)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < nact; i++ {
		a := &Activation{Rounding: Rounding(rng.IntN(2))}
		a.Prepare(randFloats(rng, cols, 3), typ)
		if a.Err() != nil {
			t.Fatal(a.Err())
		}
		if raw && rng.IntN(2) == 0 {
			for j := range a.qs {
				a.qs[j] = int8(rng.Uint32())
			}
			if rng.IntN(4) == 0 { // the extremes
				for j := range a.qs {
					a.qs[j] = -128
				}
			}
		}
		c.acts = append(c.acts, a)
	}
	return c
}

// check compares every NEON set's row kernel and (through a pool) matrix
// kernel with the Go row kernel.
func (c neonCase) check(t *testing.T, what string) {
	t.Helper()
	rs := len(c.w) / max(c.rows, 1)
	ref := goKernel(c.typ)
	want := make([][]float32, len(c.acts))
	for i, a := range c.acts {
		want[i] = make([]float32, c.rows)
		for r := range want[i] {
			want[i][r] = ref(c.w[r*rs:(r+1)*rs], a)
		}
	}
	for _, ks := range neonSets() {
		dot := ks.kernelsFor(c.typ).dot
		for i, a := range c.acts {
			for r := 0; r < c.rows; r++ {
				if got := dot(c.w[r*rs:(r+1)*rs], a); !sameOrBothNaN(got, want[i][r]) {
					t.Fatalf("%s %s %dx%d, %s row kernel, act %d row %d: %v (%#x), Go %v (%#x)", what, c.typ, c.rows, c.cols, ks,
						i, r, got, math.Float32bits(got), want[i][r], math.Float32bits(want[i][r]))
				}
			}
		}
		mat := ks.kernelsFor(c.typ).mat
		if mat == nil {
			continue
		}
		// every split of the rows, as the pool's chunks give them
		for _, split := range [][2]int{{0, c.rows}, {1, c.rows}, {c.rows / 2, c.rows}, {0, (c.rows + 1) / 2}} {
			r0, r1 := split[0], split[1]
			got := make([][]float32, len(c.acts))
			for i := range got {
				got[i] = make([]float32, c.rows)
			}
			mat(ks, c.w, rs, r0, r1, c.acts, got)
			for i := range got {
				for r := r0; r < r1; r++ {
					if !sameOrBothNaN(got[i][r], want[i][r]) {
						t.Fatalf("%s %s %dx%d, %s matrix kernel rows [%d,%d), act %d of %d, row %d: %v, Go %v", what, c.typ, c.rows, c.cols, ks,
							r0, r1, i, len(c.acts), r, got[i][r], want[i][r])
					}
				}
			}
		}
	}
}

func TestNEONKernelsMatchGo(t *testing.T) {
	if len(neonSets()) == 0 {
		t.Skip("no NEON dot-product kernels on this CPU (qemu: -cpu max or neoverse-n1)")
	}
	rng := rand.New(rand.NewPCG(21, 64))
	for _, typ := range neonTypes {
		// one block; a tail after the groups of 4; more than one assembly
		// chunk of 64 blocks with a tail
		sizes := []int{32, 7 * 32, 131 * 32}
		if typ.BlockSize() == QK_K {
			sizes = []int{QK_K, 3 * QK_K, 10 * QK_K}
		}
		for _, cols := range sizes {
			for _, raw := range []bool{false, true} {
				for _, nact := range []int{1, 2, 3, 5} {
					newNEONCase(t, rng, typ, 7, cols, nact, raw).check(t, "random")
				}
			}
		}
	}
}

// TestNEONKernelsExtremes: the largest integer sums each kernel can meet
// (every weight at its extreme, every quant at -128 or 127) must neither
// overflow the narrow accumulators nor differ from Go.
func TestNEONKernelsExtremes(t *testing.T) {
	if len(neonSets()) == 0 {
		t.Skip("no NEON dot-product kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range neonTypes {
		cols := 3 * typ.BlockSize() * (QK_K / typ.BlockSize())
		for _, wb := range []byte{0x00, 0xff, 0x80, 0x7f, 0x88} {
			for _, q := range []int8{-128, 127, -127} {
				c := newNEONCase(t, rng, typ, 4, cols, 3, false)
				ts := typ.TypeSize()
				for i := range c.w {
					c.w[i] = wb
				}
				for b := 0; b < len(c.w)/ts; b++ { // sane scales so the sums stay finite
					blk := c.w[b*ts : (b+1)*ts]
					switch typ {
					case Q8_0, Q4_0:
						putHalf(blk, 0.01)
					case Q4_K:
						putHalf(blk, 0.01)
						putHalf(blk[2:], 0.001)
					case Q6_K:
						putHalf(blk[208:], 0.01)
					}
				}
				for _, a := range c.acts {
					for j := range a.qs {
						a.qs[j] = q
					}
				}
				c.check(t, "extreme")
			}
		}
	}
}

// FuzzNEONKernels compares every NEON row and matrix kernel with Go on
// arbitrary weight bytes and activations.
func FuzzNEONKernels(f *testing.F) {
	f.Add(uint8(0), uint8(1), uint8(2), uint8(1), int64(1))
	f.Add(uint8(3), uint8(3), uint8(5), uint8(3), int64(2))
	f.Fuzz(func(t *testing.T, ti, nbSel, rowSel, actSel uint8, seed int64) {
		if len(neonSets()) == 0 {
			t.Skip("no NEON dot-product kernels on this CPU")
		}
		typ := neonTypes[int(ti)%len(neonTypes)]
		nb := 1 + int(nbSel)%140
		if typ.BlockSize() == QK_K {
			nb = 1 + int(nbSel)%12
		}
		rows := 1 + int(rowSel)%9
		nact := 1 + int(actSel)%5
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(ti)))
		newNEONCase(t, rng, typ, rows, nb*typ.BlockSize(), nact, seed%2 == 0).check(t, "fuzz")
	})
}

// TestNEONPoolMatchesGo runs products through pools of the NEON sets, as
// the engine does, and compares them with the Go set's.
func TestNEONPoolMatchesGo(t *testing.T) {
	sets := KernelSets()
	goSet := sets[len(sets)-1]
	rng := rand.New(rand.NewPCG(7, 8))
	for _, ks := range neonSets() {
		for _, batch := range []int{1, 4, 7} {
			testPoolMatchesMatVec(t, rng, NewPoolWith(2, ks), goSet, 45, 512, batch)
		}
	}
}
