//go:build !noasm && amd64

package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// kPath is one way of computing K-quant products that the differential
// tests compare with the pure-Go row kernel: a kernel set.
type kPath struct {
	name string
	ks   *Kernels
}

// kPaths lists the tiled kernel paths this CPU can run: each set as it
// is (row pairs for small batches, tiles for the others), and the AVX2
// set with the row-pair kernels for every batch ("avx2 rows") and for
// none ("avx2 tiles").
func kPaths() []kPath {
	var ps []kPath
	for _, p := range []struct {
		name string
		lv   level
	}{{"vnni", levelVNNI}, {"avx2", levelAVX2}} {
		if ks := newKernels(p.lv, true, false, false); ks != nil {
			ps = append(ps, kPath{p.name, ks})
			if p.lv == levelAVX2 {
				ps = append(ps,
					kPath{"avx2 rows", ks.with(func(k *Kernels) { k.kRowsMaxActs = 1 << 30 })},
					kPath{"avx2 tiles", ks.with(func(k *Kernels) { k.kRowsMaxActs = 0 })})
			}
		}
	}
	return ps
}

// kTypes are the weight types with tiled kernels.
var kTypes = []Type{Q4_K, Q5_K, Q6_K}

// kMat returns the tiled kernel of t.
func kMat(t Type) matKernel { return typeInfos[t].mat }

// kCase is one product: weights and prepared activations.
type kCase struct {
	typ        Type
	rows, cols int
	w          []byte
	xs         []*Activation
}

// newKCase builds random weights (quantized from floats, or raw random
// bytes with every scale and quant bit pattern, or extreme values) and
// activations.
func newKCase(rng *rand.Rand, typ Type, rows, cols, nact int, mode int) kCase {
	c := kCase{typ: typ, rows: rows, cols: cols}
	switch mode {
	case 0: // realistic
		w, err := Quantize(typ, randFloats(rng, rows*cols, 0.05))
		if err != nil {
			panic(err)
		}
		c.w = w
	default: // raw bytes; mode 2 also plants extreme F16 scales
		rs, _ := typ.RowSize(int64(cols))
		c.w = make([]byte, rows*int(rs))
		for i := range c.w {
			c.w[i] = byte(rng.Uint32())
		}
		if mode == 2 {
			extremes := []uint16{0x7bff, 0xfbff, 0x0001, 0x8000, 0x7c00, 0x7e00, 0x3c00}
			bs := typ.TypeSize()
			for off := 0; off+bs <= len(c.w); off += bs {
				h := extremes[rng.IntN(len(extremes))]
				switch typ {
				case Q4_K, Q5_K:
					binary.LittleEndian.PutUint16(c.w[off:], h)
					binary.LittleEndian.PutUint16(c.w[off+2:], extremes[rng.IntN(len(extremes))])
				case Q6_K:
					binary.LittleEndian.PutUint16(c.w[off+208:], h)
				}
			}
		}
	}
	for i := 0; i < nact; i++ {
		scale := 1.0
		if mode == 2 {
			scale = []float64{1e-30, 1, 3e4, 1e30}[rng.IntN(4)]
		}
		x := randFloats(rng, cols, scale)
		if mode == 2 && rng.IntN(3) == 0 {
			// saturated quants: every value ±amax
			for j := range x {
				x[j] = float32(scale) * float32(1-2*(j&1))
			}
		}
		a := &Activation{}
		a.Prepare(x, typ)
		if a.Err() != nil {
			panic(a.Err())
		}
		c.xs = append(c.xs, a)
	}
	return c
}

// want computes every output with the pure-Go row kernel.
func (c kCase) want() [][]float32 {
	kern := goKernel(c.typ)
	rs := len(c.w) / max(c.rows, 1)
	ys := make([][]float32, len(c.xs))
	for i, a := range c.xs {
		ys[i] = make([]float32, c.rows)
		for r := 0; r < c.rows; r++ {
			ys[i][r] = kern(c.w[r*rs:(r+1)*rs], a)
		}
	}
	return ys
}

func newOutputs(n, rows int) [][]float32 {
	ys := make([][]float32, n)
	for i := range ys {
		ys[i] = make([]float32, rows)
		for r := range ys[i] {
			ys[i][r] = float32(math.NaN()) // must be overwritten
		}
	}
	return ys
}

func compareK(t *testing.T, what string, c kCase, got, want [][]float32, r0, r1 int) {
	t.Helper()
	for i := range want {
		for r := r0; r < r1; r++ {
			if g, w := got[i][r], want[i][r]; !sameOrBothNaN(g, w) {
				t.Fatalf("%s: %s %dx%d, activation %d of %d, row %d: got %v (%#08x), want %v (%#08x)",
					what, c.typ, c.rows, c.cols, i, len(want), r, g, math.Float32bits(g), w, math.Float32bits(w))
			}
		}
	}
}

// checkKDirect runs the tiled kernel of c.typ on rows [r0, r1) and
// compares with the row kernel; rows outside the range must stay
// untouched.
func checkKDirect(t *testing.T, ks *Kernels, what string, c kCase, r0, r1 int) {
	t.Helper()
	want := c.want()
	got := newOutputs(len(c.xs), c.rows)
	rs := len(c.w) / max(c.rows, 1)
	kMat(c.typ)(ks, c.w, rs, r0, r1, c.xs, got)
	compareK(t, what, c, got, want, r0, r1)
	for i := range got {
		for r := 0; r < c.rows; r++ {
			if (r < r0 || r >= r1) && got[i][r] == got[i][r] {
				t.Fatalf("%s: row %d outside [%d, %d) was written", what, r, r0, r1)
			}
		}
	}
}

func TestKernelTiledKMatchesRowKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	shapes := []struct{ rows, cols int }{
		{1, 256}, {2, 256}, {3, 512}, {17, 1024}, {16, 4864}, {33, 768}, {5, 2304},
	}
	if len(kPaths()) == 0 {
		t.Skip("no tiled K-quant kernels on this CPU")
	}
	for _, p := range kPaths() {
		for _, typ := range kTypes {
			for _, sh := range shapes {
				for _, nact := range []int{1, 2, 3, 4, 5, 7, 8, 16, 17} {
					for mode := 0; mode < 3; mode++ {
						if testing.Short() && sh.cols > 1024 && nact > 4 {
							continue
						}
						c := newKCase(rng, typ, sh.rows, sh.cols, nact, mode)
						what := fmt.Sprintf("%s mode %d", p.name, mode)
						checkKDirect(t, p.ks, what, c, 0, sh.rows)
						if sh.rows > 2 {
							r0 := rng.IntN(sh.rows - 1)
							r1 := r0 + 1 + rng.IntN(sh.rows-r0)
							checkKDirect(t, p.ks, what+" sub-range", c, r0, r1)
						}
					}
				}
			}
		}
	}
}

// TestKernelTiledKThroughPool checks the tiled kernels through
// Pool.MatMul and Pool.MatVec at 1 and 2 threads against the pure-Go row
// kernels.
func TestKernelTiledKThroughPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	if len(kPaths()) == 0 {
		t.Skip("no tiled K-quant kernels on this CPU")
	}
	for _, typ := range kTypes {
		for _, sh := range []struct{ rows, cols, nact int }{{896, 4864, 1}, {70, 4864, 3}, {151, 512, 9}, {40, 256, 1}} {
			c := newKCase(rng, typ, sh.rows, sh.cols, sh.nact, 1)
			want := c.want()
			for _, path := range kPaths() {
				for _, threads := range []int{1, 2} {
					p := NewPoolWith(threads, path.ks)
					got := newOutputs(len(c.xs), c.rows)
					if err := p.MatMul(typ, c.w, c.rows, c.cols, c.xs, got); err != nil {
						t.Fatal(err)
					}
					compareK(t, fmt.Sprintf("%s MatMul threads=%d", path.name, threads), c, got, want, 0, c.rows)
					y := newOutputs(1, c.rows)
					if err := p.MatVec(typ, c.w, c.rows, c.cols, c.xs[0], y[0]); err != nil {
						t.Fatal(err)
					}
					compareK(t, fmt.Sprintf("%s MatVec threads=%d", path.name, threads), c, y, want[:1], 0, c.rows)
					p.Close()
				}
			}
		}
	}
}

func TestKernelTiledKDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, path := range kPaths() {
		for _, typ := range kTypes {
			c := newKCase(rng, typ, 64, 1024, 5, 0)
			p := NewPoolWith(2, path.ks)
			ys := newOutputs(len(c.xs), c.rows)
			allocs := testing.AllocsPerRun(50, func() {
				if err := p.MatMul(typ, c.w, c.rows, c.cols, c.xs, ys); err != nil {
					t.Fatal(err)
				}
			})
			p.Close()
			if allocs != 0 {
				t.Errorf("%s, %s: MatMul allocates %v times per call, want 0", path.name, typ, allocs)
			}
		}
	}
}

// FuzzMatKernelK compares every tiled path with the row kernel on
// arbitrary weight bytes, activation scales and shapes.
func FuzzMatKernelK(f *testing.F) {
	f.Add(uint8(0), uint8(3), uint8(1), uint8(2), []byte{1, 2, 3}, int64(1), float32(1))
	f.Add(uint8(1), uint8(0), uint8(0), uint8(16), []byte{0xff, 0x7c, 0x00, 0xfe}, int64(7), float32(-3e4))
	f.Add(uint8(0), uint8(18), uint8(4), uint8(4), []byte{0x00, 0x7e, 0x01, 0x7c}, int64(-2), float32(1e-30))
	f.Add(uint8(1), uint8(1), uint8(9), uint8(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, int64(3), float32(1e30))
	f.Fuzz(func(t *testing.T, ti, nbSel, rowSel, actSel uint8, seedBytes []byte, seed int64, scale float32) {
		typ := kTypes[int(ti)%len(kTypes)]
		cols := QK_K * (1 + int(nbSel)%19)
		rows := 1 + int(rowSel)%20
		nact := 1 + int(actSel)%17
		rs, _ := typ.RowSize(int64(cols))
		c := kCase{typ: typ, rows: rows, cols: cols, w: make([]byte, rows*int(rs))}
		rng := rand.New(rand.NewPCG(uint64(seed), 2))
		for i := range c.w {
			if i < len(seedBytes) {
				c.w[i] = seedBytes[i]
			} else {
				c.w[i] = byte(rng.Uint32())
			}
		}
		for i := 0; i < nact; i++ {
			x := randFloats(rng, cols, 1)
			for j := range x {
				x[j] *= scale
			}
			a := &Activation{}
			a.Prepare(x, typ)
			c.xs = append(c.xs, a)
		}
		r0 := rng.IntN(rows)
		r1 := r0 + 1 + rng.IntN(rows-r0)
		for _, p := range kPaths() {
			checkKDirect(t, p.ks, p.name, c, r0, r1)
		}
	})
}
