package ggml

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Tests of the packed 32-element layouts beyond pack_test.go's: the
// plain-Go kernel (every build) and the registered one (where this CPU
// has it) on the hard cases of mat32_test.go (extreme levels, full-mantissa
// scales whose rounding depends on the operation order, raw bytes), every
// batch-size class, sub-ranges of groups, and no allocations.

var pk32Layouts = []*pk32Layout{&pk32Q8_0, &pk32Q4_0, &pk32Q5_0}

// pk32Sums recomputes the activations' block quant sums after a test has
// written their quants directly.
func pk32Sums(xs []*Activation) {
	for _, a := range xs {
		for b := range a.nsq {
			var s int32
			for _, q := range a.qs[32*b : 32*b+32] {
				s += int32(q)
			}
			a.nsq[b] = -s
		}
	}
}

// pk32Kernels are the packed kernels to check for l: the plain-Go one, and
// the assembly ones of every set this CPU runs that packs l (512-bit and
// 256-bit), with prefetching and without.
func pk32Kernels(l *pk32Layout) map[string]func(w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	ks := map[string]func(w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32){
		"go": func(w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
			l.matGo(BestKernels(), w, rs, r0, r1, xs, ys)
		},
	}
	for _, set := range KernelSets() {
		p := set.kernelsFor(l.typ).pack
		if p == nil {
			continue
		}
		noPrefetch := set.with(func(k *Kernels) { k.pk32Prefetch = 0 })
		ks[set.Name()] = func(w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) { p.mat(set, w, rs, r0, r1, xs, ys) }
		ks[set.Name()+", no prefetch"] = func(w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
			p.mat(noPrefetch, w, rs, r0, r1, xs, ys)
		}
	}
	// the AVX2 Q8_0 kernel for any quants (nibbles), which the set runs
	// only on batches holding a -128 quant, on every case
	if avx2, err := KernelsByName("avx2 packed"); err == nil && l.typ == Q8_0 && packed256Q8_0 != nil {
		nibbles := avx2.with(func(k *Kernels) { k.pk32Q8Nibbles = true })
		ks["avx2 packed, Q8_0 nibbles"] = func(w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
			packed256Q8_0.mat(nibbles, w, rs, r0, r1, xs, ys)
		}
	}
	return ks
}

// checkPk32 packs c's matrix, runs every packed kernel on rows [r0, r1)
// and compares with want (the row kernel) bit for bit; rows outside the
// range must stay untouched.
func checkPk32(t *testing.T, l *pk32Layout, c m32Case, want [][]float32, r0, r1 int) {
	t.Helper()
	packed := make([]byte, len(c.w))
	nb := c.cols / 32
	for g := 0; g < c.rows/pk32Group; g++ {
		gb := pk32Group * c.rs
		l.pack(packed[g*gb:(g+1)*gb], c.w[g*gb:(g+1)*gb], c.rs, nb)
	}
	for name, k := range pk32Kernels(l) {
		got := m32Outputs(c.nact, c.rows)
		k(packed, c.rs, r0, r1, c.xs, got)
		for i := range got {
			for r := range got[i] {
				if r < r0 || r >= r1 {
					if !sameBits(got[i][r], sentinel) {
						t.Fatalf("%s %s %dx%d, %d acts, rows [%d,%d): row %d written", name, l.typ, c.rows, c.cols, c.nact, r0, r1, r)
					}
					continue
				}
				if !sameOrBothNaN(got[i][r], want[i][r]) {
					t.Fatalf("%s %s %dx%d, %d acts, rows [%d,%d): y[%d][%d] = %v, row kernel %v",
						name, l.typ, c.rows, c.cols, c.nact, r0, r1, i, r, got[i][r], want[i][r])
				}
			}
		}
	}
}

func TestPk32MatchesRowKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 16))
	modes := []int{m32Quantized, m32RawBytes, m32Extremes, m32Wide}
	for _, l := range pk32Layouts {
		for _, mode := range modes {
			for _, shape := range [][2]int{{16, 32}, {48, 96}, {32, 896}} {
				for _, nact := range []int{1, 2, 7, 8, 9, 16, 65, 130} {
					if nact > 16 && shape[1] > 96 && testing.Short() {
						continue
					}
					c := newM32Case(rng, l.typ, shape[0], shape[1], nact, mode)
					pk32Sums(c.xs)
					want := c.want()
					checkPk32(t, l, c, want, 0, c.rows)
					if c.rows > pk32Group {
						checkPk32(t, l, c, want, pk32Group, c.rows-pk32Group*((c.rows/pk32Group-1)/2))
					}
				}
			}
		}
	}
}

// TestPk32SignTrickExtremes runs the extreme Q8_0 cases with every -128
// activation quant made -127, so that the AVX2 sign-trick kernel (which
// leaves batches holding a -128 to the nibble kernel) meets -128, ±127
// and zero weights against ±127 activations: the largest pair sums
// VPMADDUBSW then makes (2·128·127) must stay exact. It also checks that
// the -128 batches it does not take still match.
func TestPk32SignTrickExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 18))
	for _, nact := range []int{1, 3, 4, 5, 9} {
		for _, shape := range [][2]int{{16, 32}, {48, 96}, {32, 896}} {
			c := newM32Case(rng, Q8_0, shape[0], shape[1], nact, m32Extremes)
			withMin := anyMinInt8Go(c.xs)
			for _, a := range c.xs {
				for j, q := range a.qs {
					if q == -128 {
						a.qs[j] = -127
					}
				}
			}
			if !withMin || anyMinInt8Go(c.xs) {
				t.Fatalf("%d acts: -128 quants before: %v, after: %v", nact, withMin, anyMinInt8Go(c.xs))
			}
			pk32Sums(c.xs)
			checkPk32(t, &pk32Q8_0, c, c.want(), 0, c.rows)
			// one activation keeps a -128: that batch takes the nibble kernel
			c.xs[nact-1].qs[5] = -128
			pk32Sums(c.xs)
			checkPk32(t, &pk32Q8_0, c, c.want(), 0, c.rows)
		}
	}
}

// anyMinInt8Go is the test's own scan for a -128 quant.
func anyMinInt8Go(xs []*Activation) bool {
	for _, a := range xs {
		for _, q := range a.qs {
			if q == -128 {
				return true
			}
		}
	}
	return false
}

// TestPk32OrderMatters guards the test above: the hard cases must tell
// the two float operation orders apart, or a kernel with the wrong one
// would pass.
func TestPk32OrderMatters(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 17))
	for _, l := range pk32Layouts {
		c := newM32Case(rng, l.typ, 32, 896, 4, m32Wide)
		pk32Sums(c.xs)
		want := c.want()
		packed := make([]byte, len(c.w))
		if err := packAll(l, packed, c); err != nil {
			t.Fatal(err)
		}
		// the other order, with l's levels
		differ := 0
		var u [32]int32
		nb := c.cols / 32
		for r := 0; r < c.rows; r++ {
			grp := packed[(r/pk32Group)*pk32Group*c.rs:]
			for i, a := range c.xs {
				var sumf float32
				for b := 0; b < nb; b++ {
					bias, scale := l.levels(grp[b*l.blockBytes():(b+1)*l.blockBytes()], r%pk32Group, &u)
					sumi := bias * a.nsq[b]
					for e := range u {
						sumi += u[e] * int32(a.qs[32*b+e])
					}
					dw := f16Table[scale]
					if l.typ != Q4_0 {
						sumf += float32(float32(float32(sumi)*dw) * a.d[b])
					} else {
						sumf += float32(float32(sumi) * float32(dw*a.d[b]))
					}
				}
				if !sameOrBothNaN(sumf, want[i][r]) {
					differ++
				}
			}
		}
		if differ == 0 {
			t.Errorf("%s: the other operation order gives the same results on every wide case", l.typ)
		}
	}
}

func packAll(l *pk32Layout, dst []byte, c m32Case) error {
	if len(dst) != len(c.w) || c.rows%pk32Group != 0 {
		return fmt.Errorf("bad case %dx%d", c.rows, c.cols)
	}
	gb := pk32Group * c.rs
	for g := 0; g < c.rows/pk32Group; g++ {
		l.pack(dst[g*gb:(g+1)*gb], c.w[g*gb:(g+1)*gb], c.rs, c.cols/32)
	}
	return nil
}

func TestPk32SpreadGather(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 18))
	for e := 0; e < 32; e++ {
		p := pk32Spread(1 << e)
		if c, i := e/4, e%4; p != 1<<(8*i+c) {
			t.Fatalf("bit %d spreads to %#x, want bit %d", e, p, 8*i+c)
		}
	}
	for range 1000 {
		v := rng.Uint32()
		if got := pk32Gather(pk32Spread(v)); got != v {
			t.Fatalf("gather(spread(%#x)) = %#x", v, got)
		}
	}
}

func TestPk32DoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 19))
	tested := false
	for _, ks := range KernelSets() {
		p := NewPoolWith(2, ks)
		for _, l := range pk32Layouts {
			if ks.kernelsFor(l.typ).pack == nil {
				continue
			}
			tested = true
			for _, nact := range []int{1, 4, 70} {
				c := newM32Case(rng, l.typ, 64, 512, nact, m32Quantized)
				packed := make([]byte, len(c.w))
				if err := p.Pack(l.typ, packed, c.w, c.rows, c.cols); err != nil {
					t.Fatal(err)
				}
				ys := m32Outputs(nact, c.rows)
				if err := p.MatMulPacked(l.typ, packed, c.rows, c.cols, c.xs, ys); err != nil {
					t.Fatal(err)
				}
				allocs := testing.AllocsPerRun(20, func() {
					if err := p.MatMulPacked(l.typ, packed, c.rows, c.cols, c.xs, ys); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("%s: %s, %d activations: %.1f allocations per MatMulPacked", ks, l.typ, nact, allocs)
				}
			}
		}
		p.Close()
	}
	if !tested {
		t.Skip("no packed layout on this CPU and build")
	}
}

// FuzzPacked32 compares the packed kernels (plain Go and registered) with
// the row kernel on fuzzed shapes, group ranges and bytes (weights and
// activation quants), and checks that unpacking gives the rows back.
func FuzzPacked32(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint8(1), uint8(3), uint8(0), uint8(9), uint64(1), []byte{0x00, 0x3c, 0x80, 0x7f})
	f.Add(uint8(1), uint8(2), uint8(28), uint8(17), uint8(1), uint8(1), uint64(2), []byte{0xff, 0x7c})
	f.Add(uint8(2), uint8(1), uint8(3), uint8(8), uint8(1), uint8(3), uint64(3), []byte{0x01, 0x00, 0xff})
	f.Fuzz(func(t *testing.T, li, groups, blocks, nact, g0, g1 uint8, seed uint64, data []byte) {
		l := pk32Layouts[int(li)%len(pk32Layouts)]
		ng := 1 + int(groups)%4
		rows := pk32Group * ng
		cols := 32 * (1 + int(blocks)%64)
		na := 1 + int(nact)%20
		lo := int(g0) % ng
		hi := lo + 1 + int(g1)%(ng-lo)
		rng := rand.New(rand.NewPCG(seed, 33))
		c := newM32Case(rng, l.typ, rows, cols, na, int(seed%4))
		for i, b := range data {
			if i%2 == 0 {
				c.w[(i/2)%len(c.w)] = b
			} else {
				a := c.xs[(i/2)%na]
				a.qs[int(seed+uint64(i))%len(a.qs)] = int8(b)
			}
		}
		pk32Sums(c.xs)
		checkPk32(t, l, c, c.want(), lo*pk32Group, hi*pk32Group)
		packed := make([]byte, len(c.w))
		if err := packAll(l, packed, c); err != nil {
			t.Fatal(err)
		}
		row := make([]byte, c.rs)
		for r := 0; r < rows; r++ {
			l.row(row, packed[(r/pk32Group)*pk32Group*c.rs:], c.rs, cols/32, r%pk32Group)
			if !bytes.Equal(row, c.w[r*c.rs:(r+1)*c.rs]) {
				t.Fatalf("%s: row %d does not unpack to the original", l.typ, r)
			}
		}
	})
}

// levels returns row i's unsigned levels u (element e at u[e]) of the
// packed block o, the bias they carry (the signed level is u-bias) and
// the row's F16 scale.
func (l *pk32Layout) levels(o []byte, i int, u *[32]int32) (bias int32, scale uint16) {
	scale = uint16(o[2*i]) | uint16(o[2*i+1])<<8
	switch l.typ {
	case Q8_0:
		for e := 0; e < 32; e++ {
			u[e] = int32(o[32+64*(e/4)+4*i+e%4])
		}
		return 128, scale
	case Q4_0:
		for e := 0; e < 16; e++ {
			v := o[32+64*(e/4)+4*i+e%4]
			u[e], u[e+16] = int32(v&15), int32(v>>4)
		}
		return 8, scale
	default: // Q5_0
		hs := binary.LittleEndian.Uint32(o[32+4*i:])
		for e := 0; e < 16; e++ {
			v := o[96+64*(e/4)+4*i+e%4]
			for _, ee := range [2]int{e, e + 16} {
				c, j := ee/4, ee%4
				h := int32(hs>>(8*j+c)&1) << 4
				if ee < 16 {
					u[ee] = int32(v&15) | h
				} else {
					u[ee] = int32(v>>4) | h
				}
			}
		}
		return 16, scale
	}
}

// matGo is the packed kernel in plain Go, for the tests: rows [r0, r1) (multiples of 16)
// of the packed matrix w times every activation. It reads the layout the
// way the assembly does (unsigned levels, the bias taken off with the
// activation's quant sums) and keeps dot.go's float operations.
func (l *pk32Layout) matGo(_ *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	if len(xs) == 0 {
		return
	}
	nb := xs[0].n / 32
	var u [32]int32
	for g := r0 / pk32Group; g < r1/pk32Group; g++ {
		grp := w[g*pk32Group*rs : (g+1)*pk32Group*rs]
		for i := 0; i < pk32Group; i++ {
			for t, a := range xs {
				var sumf float32
				for b := 0; b < nb; b++ {
					bias, scale := l.levels(grp[b*l.blockBytes():(b+1)*l.blockBytes()], i, &u)
					q := a.qs[32*b : 32*b+32]
					sumi := bias * a.nsq[b]
					for e := range u {
						sumi += u[e] * int32(q[e])
					}
					dw := f16Table[scale]
					if l.typ == Q4_0 {
						sumf += float32(float32(float32(sumi)*dw) * a.d[b])
					} else {
						sumf += float32(float32(sumi) * float32(dw*a.d[b]))
					}
				}
				ys[t][g*pk32Group+i] = sumf
			}
		}
	}
}
