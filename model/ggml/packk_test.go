//go:build !noasm && amd64

package ggml

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// The packed K-quant kernels beyond TestPackedMatchesRowKernel: no
// allocations in steady state, and a fuzz target that holds them to the
// row kernels on arbitrary bytes.

func TestPackedKNoAllocs(t *testing.T) {
	for _, typ := range []Type{Q4_K, Q5_K, Q6_K} {
		if packingOf(typ) == nil {
			t.Skip("no packed K-quant layout on this CPU")
		}
		const rows, cols = 64, 512
		w := make([]byte, rows*pkKRowBytes(typ, cols))
		for i := range w {
			w[i] = byte(i * 7)
		}
		packed := make([]byte, len(w))
		if err := Pack(typ, packed, w, rows, cols); err != nil {
			t.Fatal(err)
		}
		pool := NewPool(2)
		for _, nact := range []int{1, 4, 20} {
			xs := make([]*Activation, nact)
			ys := make([][]float32, nact)
			for i := range xs {
				x := make([]float32, cols)
				for k := range x {
					x[k] = float32(k%13) - 6
				}
				xs[i] = &Activation{}
				xs[i].Prepare(x, typ)
				ys[i] = make([]float32, rows)
			}
			allocs := testing.AllocsPerRun(20, func() {
				if err := pool.MatMulPacked(typ, packed, rows, cols, xs, ys); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s, %d activations: %v allocations per call", typ, nact, allocs)
			}
		}
		pool.Close()
	}
}

// pkKRowBytes is the size of a row of n elements (n a whole number of
// blocks).
func pkKRowBytes(t Type, n int) int {
	rs, _ := t.RowSize(int64(n))
	return int(rs)
}

// FuzzPackedK packs a 16-row Q4_K, Q5_K or Q6_K matrix made of the fuzzer's
// bytes (scales, NaN and Inf included) and multiplies it by activations
// made of the same bytes: the packed kernel must equal the row kernel bit
// for bit, and PackedRow must give every row back.
func FuzzPackedK(f *testing.F) {
	f.Add(uint8(0), uint8(1), uint8(1), []byte{1, 2, 3, 250, 0x7c, 0x00, 0xff})
	f.Add(uint8(1), uint8(2), uint8(3), bytes.Repeat([]byte{0x3c, 0x81, 0x7f, 0x12}, 300))
	f.Add(uint8(0), uint8(3), uint8(5), bytes.Repeat([]byte{0xff}, 64))
	f.Add(uint8(1), uint8(1), uint8(2), []byte{0x00, 0x7e, 0x80, 0x7c, 0x01, 0x04})
	f.Add(uint8(2), uint8(4), uint8(4), bytes.Repeat([]byte{0x11, 0xe0, 0x3b, 0x00, 0x9a}, 200))
	f.Fuzz(func(t *testing.T, which, nblocks, nact uint8, data []byte) {
		typ := []Type{Q4_K, Q5_K, Q6_K}[which%3]
		if packingOf(typ) == nil {
			t.Skip("no packed K-quant layout on this CPU")
		}
		if len(data) == 0 {
			return
		}
		cols := QK_K * (1 + int(nblocks)%3)
		rows := pkKGroup * (1 + int(nblocks/3)%2)
		rs := pkKRowBytes(typ, cols)
		w := make([]byte, rows*rs)
		for i := range w {
			w[i] = data[i%len(data)] ^ byte(i/len(data))
		}
		packed := make([]byte, len(w))
		if err := Pack(typ, packed, w, rows, cols); err != nil {
			t.Fatal(err)
		}
		row := make([]byte, rs)
		for r := 0; r < rows; r++ {
			if err := PackedRow(typ, row, packed, rows, cols, r); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(row, w[r*rs:(r+1)*rs]) {
				t.Fatalf("%s: PackedRow(%d) is not the original row", typ, r)
			}
		}
		xs := make([]*Activation, 1+int(nact)%6)
		ys := make([][]float32, len(xs))
		for i := range xs {
			x := make([]float32, cols)
			for k := range x {
				var b [4]byte
				for j := range b {
					b[j] = data[(4*(k+i*cols)+j)%len(data)]
				}
				v := math.Float32frombits(binary.LittleEndian.Uint32(b[:]))
				if v != v || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e30 {
					v = float32(int8(b[0])) // Prepare's input is finite
				}
				x[k] = v
			}
			xs[i] = &Activation{}
			xs[i].Prepare(x, typ)
			ys[i] = make([]float32, rows)
		}
		pool := NewPool(1)
		defer pool.Close()
		if err := pool.MatMulPacked(typ, packed, rows, cols, xs, ys); err != nil {
			t.Fatal(err)
		}
		kern := goKernel(typ)
		for i := range xs {
			for r := 0; r < rows; r++ {
				if want := kern(w[r*rs:(r+1)*rs], xs[i]); !sameOrBothNaN(ys[i][r], want) {
					t.Fatalf("%s %dx%d: y[%d][%d] = %v, row kernel %v", typ, rows, cols, i, r, ys[i][r], want)
				}
			}
		}
	})
}
