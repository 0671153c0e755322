//go:build !noasm

package train

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
)

// TestQ8AVX512 checks the AVX-512 column quantizer and Q8_0 decoder bit
// for bit against the Go code: the quantizer on random tiles with zero
// columns, ties, wide and tiny ranges, widths with and without a tail
// for the Go code; the decoder on random levels with every F16 scale.
func TestQ8AVX512(t *testing.T) {
	if !haveQ8AVX512 {
		t.Skip("no AVX-512 VBMI on this CPU")
	}
	r := rand.New(rand.NewPCG(9, 9))
	for _, cols := range []int{16, 40, 896, 4864} {
		for trial := range 4 {
			tile := randVec32(r, 32*cols, 0, math.Pow(10, float64(trial*3-4)))
			for rr := range 32 {
				tile[rr*cols+3] = 0 // a zero column
			}
			tile[5] = 127 // scale 1 for column 5, and ties
			tile[cols+5], tile[2*cols+5], tile[3*cols+5] = 2.5, -3.5, 0.5
			stride := 2*q8Block + trial
			var got [2][]byte
			for i, asm := range []bool{false, true} {
				haveQ8AVX512 = asm
				got[i] = make([]byte, cols*stride)
				quantizeColumnsQ8(tile, cols, got[i], stride)
			}
			haveQ8AVX512 = true
			if !bytes.Equal(got[0], got[1]) {
				for c := range cols {
					if g, w := got[1][c*stride:c*stride+q8Block], got[0][c*stride:c*stride+q8Block]; !bytes.Equal(g, w) {
						t.Fatalf("%d columns, trial %d: column %d is % x, want % x", cols, trial, c, g, w)
					}
				}
			}
		}
	}

	const nb = 64
	src := make([]byte, nb*q8Block)
	want, got := make([]float32, 32*nb), make([]float32, 32*nb)
	for h := 0; h < 1<<16; h += nb {
		for b := range nb {
			blk := src[b*q8Block : (b+1)*q8Block]
			blk[0], blk[1] = byte(h+b), byte((h+b)>>8)
			for i := 2; i < q8Block; i++ {
				blk[i] = byte(r.Uint32())
			}
		}
		if err := ggml.Dequantize(ggml.Q8_0, src, want); err != nil {
			t.Fatal(err)
		}
		if !decodeQ8(src, got) {
			t.Fatal("decodeQ8 declined")
		}
		for i := range got {
			g, w := got[i], want[i]
			if math.Float32bits(g) != math.Float32bits(w) && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
				t.Fatalf("scale %#04x: value %d is %g, want %g", h+i/32, i%32, g, w)
			}
		}
	}
}
