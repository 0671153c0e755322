package ggml

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// The differential tests of the packed layouts: for every type with a
// packing registered on this machine, the packed kernel must equal the
// pure-Go row kernel on the original matrix bit for bit, for every row and
// activation, and PackedRow must give the original rows back.

// packedTypes lists the types this machine packs.
func packedTypes() []Type {
	var ts []Type
	for t := range typeSlots {
		if packingOf(Type(t)) != nil {
			ts = append(ts, Type(t))
		}
	}
	return ts
}

// packCase makes a rows×cols matrix of typ: quantized Gaussian values, or
// (raw) arbitrary bytes, scales included (NaN, Inf, subnormal).
func packCase(t *testing.T, rng *rand.Rand, typ Type, rows, cols int, raw bool) []byte {
	t.Helper()
	if raw {
		rs, _ := typ.RowSize(int64(cols))
		w := make([]byte, rows*int(rs))
		for i := range w {
			w[i] = byte(rng.Uint32())
		}
		return w
	}
	w, err := Quantize(typ, randFloats(rng, rows*cols, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestPackedMatchesRowKernel(t *testing.T) {
	types := packedTypes()
	if len(types) == 0 {
		t.Skip("no packed layout on this CPU and build")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	pool := NewPool(2)
	defer pool.Close()
	for _, typ := range types {
		g := packingOf(typ).group
		bs := typ.BlockSize()
		for _, shape := range [][2]int{{g, bs}, {2 * g, 3 * bs}, {48, 896}, {64, 4864}} {
			rows, cols := shape[0], shape[1]
			if rows%g != 0 || cols%bs != 0 {
				continue
			}
			for _, raw := range []bool{false, true} {
				w := packCase(t, rng, typ, rows, cols, raw)
				packed := make([]byte, len(w))
				if err := Pack(typ, packed, w, rows, cols); err != nil {
					t.Fatal(err)
				}
				viaPool := make([]byte, len(w))
				if err := pool.Pack(typ, viaPool, w, rows, cols); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(packed, viaPool) {
					t.Fatalf("%s %dx%d: Pool.Pack differs from Pack", typ, rows, cols)
				}
				rs := len(w) / rows
				row := make([]byte, rs)
				for r := 0; r < rows; r++ {
					if err := PackedRow(typ, row, packed, rows, cols, r); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(row, w[r*rs:(r+1)*rs]) {
						t.Fatalf("%s %dx%d: PackedRow(%d) is not the original row", typ, rows, cols, r)
					}
				}
				kern := goKernel(typ)
				for _, nact := range []int{1, 2, 3, 4, 5, 8, 17} {
					xs := make([]*Activation, nact)
					want := make([][]float32, nact)
					for i := range xs {
						xs[i] = &Activation{Rounding: RoundRef}
						xs[i].Prepare(randFloats(rng, cols, 1), typ)
						want[i] = make([]float32, rows)
						for r := range want[i] {
							want[i][r] = kern(w[r*rs:(r+1)*rs], xs[i])
						}
					}
					got := m32Outputs(nact, rows)
					if err := pool.MatMulPacked(typ, packed, rows, cols, xs, got); err != nil {
						t.Fatal(err)
					}
					for i := range got {
						for r := range got[i] {
							if !sameOrBothNaN(got[i][r], want[i][r]) {
								t.Fatalf("%s %dx%d raw=%v, %d acts: y[%d][%d] = %v, row kernel %v",
									typ, rows, cols, raw, nact, i, r, got[i][r], want[i][r])
							}
						}
					}
					// the kernel on part of the rows leaves the others alone
					if rows > g {
						part := m32Outputs(nact, rows)
						packingOf(typ).mat(BestKernels(), packed, rs, g, rows, xs, part)
						for i := range part {
							for r := range part[i] {
								in := r >= g
								if !in && !sameBits(part[i][r], sentinel) {
									t.Fatalf("%s: rows [%d,%d): row %d written", typ, g, rows, r)
								}
								if in && !sameOrBothNaN(part[i][r], want[i][r]) {
									t.Fatalf("%s: rows [%d,%d): y[%d][%d] = %v, row kernel %v", typ, g, rows, i, r, part[i][r], want[i][r])
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestPackErrors(t *testing.T) {
	if Packable(F32, 16, 16) { // no layout packs F32
		t.Fatal("F32 is packable")
	}
	if err := Pack(Type(63), nil, nil, 16, 32); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown type: %v", err)
	}
	for _, typ := range packedTypes() {
		g := packingOf(typ).group
		cols := typ.BlockSize()
		rs, _ := typ.RowSize(int64(cols))
		w := make([]byte, g*int(rs))
		if Packable(typ, g+1, cols) || Packable(typ, 0, cols) || Packable(typ, g, cols+1) {
			t.Fatalf("%s: Packable accepts a shape it cannot pack", typ)
		}
		if err := Pack(typ, make([]byte, len(w)-1), w, g, cols); !errors.Is(err, ErrSize) {
			t.Fatalf("%s short destination: %v", typ, err)
		}
		if err := Pack(typ, w, w[1:], g, cols); !errors.Is(err, ErrSize) {
			t.Fatalf("%s short source: %v", typ, err)
		}
		if err := PackedRow(typ, make([]byte, rs), w, g, cols, g); !errors.Is(err, ErrSize) {
			t.Fatalf("%s row out of range: %v", typ, err)
		}
		pool := NewPool(1)
		a := &Activation{}
		a.Prepare(make([]float32, 2*cols), typ)
		if err := pool.MatMulPacked(typ, w, g, cols, []*Activation{a}, [][]float32{make([]float32, g)}); !errors.Is(err, ErrSize) {
			t.Fatalf("%s activation of the wrong length: %v", typ, err)
		}
		pool.Close()
	}
}
