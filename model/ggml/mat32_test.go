package ggml

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// The differential tests of the 32-element block matrix kernels: every
// path (row tiles, activation lanes, the default split between them) must
// equal the pure-Go row kernel bit for bit for every row and activation.

var m32Types = []Type{Q8_0, Q4_0, Q5_0}

type m32Path struct {
	name string
	ks   *Kernels
}

// m32Paths lists the fast paths this machine and build can run, each a
// kernel set: the VNNI row tiles (registers decoding Q4_0/Q5_0, or
// unpacking first), the activation lanes, the default split between them,
// and the AVX2 row tiles.
func m32Paths() []m32Path {
	var ps []m32Path
	if vnni := newKernels(levelVNNI, true, false, false); vnni != nil {
		ps = append(ps,
			m32Path{"rows", vnni.with(func(k *Kernels) { k.m32RowsMaxActs = 1 << 30 })},
			m32Path{"rows unpacked", vnni.with(func(k *Kernels) { k.m32RowsMaxActs, k.m32RowsDirect = 1<<30, false })},
			m32Path{"acts", vnni.with(func(k *Kernels) { k.m32RowsMaxActs = 0 })},
			m32Path{"default", vnni})
	}
	if avx2 := newKernels(levelAVX2, true, false, false); avx2 != nil {
		ps = append(ps, m32Path{"avx2", avx2})
	}
	return ps
}

// m32Case is one product: weights, activations and the reference result.
type m32Case struct {
	typ              Type
	rows, cols, nact int
	rs               int
	w                []byte
	xs               []*Activation
}

const (
	m32Quantized = iota // Quantize of Gaussian values
	m32RawBytes         // any bytes, scales included (NaN, Inf, subnormal)
	m32Extremes         // zero blocks, ±127/-128 weights and activations
	m32Wide             // random quants with full-mantissa scales: large sums whose float rounding depends on the operation order
)

func newM32Case(rng *rand.Rand, typ Type, rows, cols, nact, mode int) m32Case {
	c := m32Case{typ: typ, rows: rows, cols: cols, nact: nact}
	rs, _ := typ.RowSize(int64(cols))
	c.rs = int(rs)
	switch mode {
	case m32Quantized:
		c.w, _ = Quantize(typ, randFloats(rng, rows*cols, 0.1))
	default:
		c.w = make([]byte, rows*c.rs)
		for i := range c.w {
			c.w[i] = byte(rng.Uint32())
		}
	}
	bs := typ.TypeSize()
	if mode == m32Extremes {
		for b := 0; b < len(c.w)/bs; b++ {
			blk := c.w[b*bs : (b+1)*bs]
			blk[0], blk[1] = 0x00, 0x3c // scale 1.0
			switch rng.IntN(4) {
			case 0:
				clear(blk[2:])
			case 1:
				for i := 2; i < bs; i++ {
					blk[i] = 0x80 // -128 for Q8_0, extreme levels for Q4/Q5
				}
			case 2:
				for i := 2; i < bs; i++ {
					blk[i] = 0x7f
				}
			}
		}
	}
	if mode == m32Wide {
		for b := 0; b < len(c.w)/bs; b++ {
			h := uint16(0x2800 + rng.IntN(0x2000)) // normal F16 scales, random mantissas
			c.w[b*bs], c.w[b*bs+1] = byte(h), byte(h>>8)
			if typ != Q8_0 && rng.IntN(2) == 0 { // extreme levels, mostly of one sign
				fill := []byte{0x00, 0xff}[rng.IntN(2)]
				for i := 2; i < bs; i++ {
					c.w[b*bs+i] = fill ^ byte(rng.IntN(2))
				}
			}
		}
	}
	for i := 0; i < nact; i++ {
		a := &Activation{Rounding: Rounding(rng.IntN(2))}
		a.Prepare(randFloats(rng, cols, 2), typ)
		if mode == m32Wide {
			for j := range a.qs { // large, one sign per block
				v := int8(100 + rng.IntN(28))
				if (j/32+i)%3 == 0 {
					v = -v
				}
				a.qs[j] = v
			}
		}
		if mode == m32Extremes {
			for j := range a.qs {
				switch rng.IntN(3) {
				case 0:
					a.qs[j] = -128
				case 1:
					a.qs[j] = 127
				}
			}
			if i%2 == 1 {
				clear(a.qs[:32])
			}
		}
		c.xs = append(c.xs, a)
	}
	return c
}

// want is the Go row kernel's result for every activation and row.
func (c m32Case) want() [][]float32 {
	kern := goKernel(c.typ)
	ys := make([][]float32, c.nact)
	for i, a := range c.xs {
		ys[i] = make([]float32, c.rows)
		for r := range ys[i] {
			ys[i][r] = kern(c.w[r*c.rs:(r+1)*c.rs], a)
		}
	}
	return ys
}

// sentinel marks outputs a kernel must not touch.
var sentinel = math.Float32frombits(0x7fc0dead)

func m32Outputs(nact, rows int) [][]float32 {
	ys := make([][]float32, nact)
	for i := range ys {
		ys[i] = make([]float32, rows)
		for r := range ys[i] {
			ys[i][r] = sentinel
		}
	}
	return ys
}

func compareM32(t *testing.T, what string, c m32Case, got, want [][]float32, r0, r1 int) {
	t.Helper()
	for i := range got {
		for r := range got[i] {
			g := got[i][r]
			if r < r0 || r >= r1 {
				if math.Float32bits(g) != math.Float32bits(sentinel) {
					t.Fatalf("%s %s %dx%d, %d acts: row %d outside [%d,%d) written", what, c.typ, c.rows, c.cols, c.nact, r, r0, r1)
				}
				continue
			}
			if !sameOrBothNaN(g, want[i][r]) {
				t.Fatalf("%s %s %dx%d, %d acts, rows [%d,%d): y[%d][%d] = %v (%#08x), row kernel %v (%#08x)",
					what, c.typ, c.rows, c.cols, c.nact, r0, r1, i, r, g, math.Float32bits(g), want[i][r], math.Float32bits(want[i][r]))
			}
		}
	}
}

// checkM32Direct calls the registered kernel on rows [r0, r1) under every
// path and compares with the row kernel.
func checkM32Direct(t *testing.T, c m32Case, want [][]float32, r0, r1 int) {
	t.Helper()
	kern := typeInfos[c.typ].mat
	if kern == nil {
		t.Fatalf("no matrix kernel for %s", c.typ)
	}
	for _, p := range m32Paths() {
		got := m32Outputs(c.nact, c.rows)
		kern(p.ks, c.w, c.rs, r0, r1, c.xs, got)
		compareM32(t, p.name, c, got, want, r0, r1)
	}
}

func TestKernelMat32MatchesRowKernel(t *testing.T) {
	if len(m32Paths()) == 0 {
		t.Skip("no matrix kernels for 32-element blocks on this machine or build")
	}
	rng := rand.New(rand.NewPCG(32, 1))
	shapes := []struct{ rows, cols, nact int }{
		{1, 32, 1}, {7, 32, 2}, {8, 64, 1}, {9, 96, 3}, {13, 896, 4}, {17, 896, 5},
		{33, 128, 16}, {20, 256, 17}, {24, 4864, 1}, {12, 4896, 7}, {40, 160, 33},
	}
	for _, typ := range m32Types {
		for _, s := range shapes {
			for mode := m32Quantized; mode <= m32Wide; mode++ {
				c := newM32Case(rng, typ, s.rows, s.cols, s.nact, mode)
				want := c.want()
				checkM32Direct(t, c, want, 0, s.rows)
				if s.rows > 2 { // a sub-range not aligned to any tile
					r0 := 1 + rng.IntN(s.rows/2)
					r1 := r0 + rng.IntN(s.rows-r0) + 1
					checkM32Direct(t, c, want, r0, r1)
				}
			}
		}
	}
}

func TestKernelMat32ThroughPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 2))
	paths := append([]m32Path{{"best", BestKernels()}}, m32Paths()...)
	for _, threads := range []int{1, 2} {
		for _, path := range paths {
			p := NewPoolWith(threads, path.ks)
			for _, typ := range m32Types {
				for _, nact := range []int{1, 2, 4, 8, 16, 19} {
					c := newM32Case(rng, typ, 133, 896, nact, m32Quantized)
					want := c.want()
					got := m32Outputs(nact, c.rows)
					if err := p.MatMul(typ, c.w, c.rows, c.cols, c.xs, got); err != nil {
						t.Fatal(err)
					}
					compareM32(t, "Pool.MatMul "+path.name, c, got, want, 0, c.rows)
					one := m32Outputs(1, c.rows)
					if err := p.MatVec(typ, c.w, c.rows, c.cols, c.xs[0], one[0]); err != nil {
						t.Fatal(err)
					}
					compareM32(t, "Pool.MatVec "+path.name, c, one, want[:1], 0, c.rows)
				}
			}
			p.Close()
		}
	}
}

func TestKernelMat32Off(t *testing.T) {
	// in the pure-Go set the matrix kernel is the row loop, so the
	// comparison above is against something else
	rng := rand.New(rand.NewPCG(32, 3))
	goKernels := newKernels(levelGo, false, false, false)
	for _, typ := range m32Types {
		if typeInfos[typ].mat == nil {
			continue
		}
		c := newM32Case(rng, typ, 21, 224, 3, m32RawBytes)
		want := c.want()
		got := m32Outputs(c.nact, c.rows)
		typeInfos[typ].mat(goKernels, c.w, c.rs, 3, 20, c.xs, got)
		compareM32(t, "off", c, got, want, 3, 20)
	}
}

func TestKernelMat32DoesNotAllocate(t *testing.T) {
	for _, path := range m32Paths() {
		t.Run(path.name, func(t *testing.T) { testMat32DoesNotAllocate(t, NewPoolWith(2, path.ks)) })
	}
}

func testMat32DoesNotAllocate(t *testing.T, p *Pool) {
	rng := rand.New(rand.NewPCG(32, 4))
	defer p.Close()
	for _, typ := range m32Types {
		for _, nact := range []int{1, 4, 16} {
			c := newM32Case(rng, typ, 64, 512, nact, m32Quantized)
			ys := m32Outputs(nact, c.rows)
			// warm the scratch pool
			if err := p.MatMul(typ, c.w, c.rows, c.cols, c.xs, ys); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(20, func() {
				if err := p.MatMul(typ, c.w, c.rows, c.cols, c.xs, ys); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s, %d activations: %.1f allocations per MatMul", typ, nact, allocs)
			}
		}
	}
}

// FuzzMatKernel32 compares every path with the row kernel on fuzzed
// shapes, sub-ranges and bytes (weights and activation quants).
func FuzzMatKernel32(f *testing.F) {
	f.Add(uint8(0), uint8(9), uint8(1), uint8(3), uint8(0), uint8(9), uint64(1), []byte{0x00, 0x3c, 0x80, 0x7f})
	f.Add(uint8(1), uint8(17), uint8(28), uint8(17), uint8(3), uint8(15), uint64(2), []byte{0xff, 0x7c})
	f.Add(uint8(2), uint8(4), uint8(3), uint8(5), uint8(1), uint8(3), uint64(3), []byte{0x01, 0x00, 0xff})
	f.Fuzz(func(t *testing.T, ti, rows, blocks, nact, r0, r1 uint8, seed uint64, data []byte) {
		if len(m32Paths()) == 0 {
			t.Skip("no fast path")
		}
		typ := m32Types[int(ti)%len(m32Types)]
		nr := 1 + int(rows)%40
		cols := 32 * (1 + int(blocks)%160)
		na := 1 + int(nact)%20
		lo := int(r0) % nr
		hi := lo + 1 + int(r1)%(nr-lo)
		rng := rand.New(rand.NewPCG(seed, 32))
		c := newM32Case(rng, typ, nr, cols, na, int(seed%4))
		for i, b := range data {
			if i%2 == 0 {
				c.w[(i/2)%len(c.w)] = b
			} else {
				a := c.xs[(i/2)%na]
				a.qs[int(seed+uint64(i))%len(a.qs)] = int8(b)
			}
		}
		checkM32Direct(t, c, c.want(), lo, hi)
	})
}

func TestKernelMat32RepackMatchesGo(t *testing.T) {
	if !asmBuild || runtime.GOARCH != "amd64" {
		t.Skip("no assembly repacking in this build (amd64 only)")
	}
	rng := rand.New(rand.NewPCG(32, 5))
	for _, nact := range []int{1, 15, 16, 17, 40} {
		c := newM32Case(rng, Q8_0, 1, 160, nact, m32Extremes)
		nb := c.cols / 32
		groups := (nact + m32Lanes - 1) / m32Lanes
		wantR, gotR := make([]byte, groups*nb*512), make([]byte, groups*nb*512)
		wantD, gotD := make([]float32, groups*nb*m32Lanes), make([]float32, groups*nb*m32Lanes)
		for i := range gotR { // stale bytes from an earlier call must not survive
			gotR[i] = byte(i)
			gotD[i%len(gotD)] = float32(i)
		}
		m32Repack(wantR, wantD, c.xs, nb)
		m32RepackAsm(gotR, gotD, c.xs, nb)
		for i := range wantR {
			if gotR[i] != wantR[i] {
				t.Fatalf("%d activations: repacked byte %d = %#x, want %#x", nact, i, gotR[i], wantR[i])
			}
		}
		for i := range wantD {
			if math.Float32bits(gotD[i]) != math.Float32bits(wantD[i]) {
				t.Fatalf("%d activations: scale %d = %v, want %v", nact, i, gotD[i], wantD[i])
			}
		}
	}
}
