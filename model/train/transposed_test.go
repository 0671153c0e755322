package train

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
)

// TestQuantizeColumnsQ8 checks the column quantizer against a plain
// rendering of Q8_0's definition, column by column, on widths that are
// and are not multiples of its sixteen-column stride, with zero columns
// and exact ties.
func TestQuantizeColumnsQ8(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, cols := range []int{16, 40, 896} {
		tile := randVec32(r, 32*cols, 0, 1)
		for rr := range 32 {
			tile[rr*cols+1] = 0 // a zero column
		}
		tile[0] = 127    // column 0's maximum: scale 1 ...
		tile[cols] = 2.5 // ... and a tie, to 2
		tile[2*cols] = -3.5
		stride := 3 * q8Block
		got := make([]byte, cols*stride)
		quantizeColumnsQ8(tile, cols, got, stride)
		for c := range cols {
			var amax float64
			for rr := range 32 {
				amax = max(amax, math.Abs(float64(tile[rr*cols+c])))
			}
			d := float32(amax) / 127
			var id float32
			if d != 0 {
				id = 1 / d
			}
			want := make([]byte, q8Block)
			h := ggml.FP32ToFP16(d)
			want[0], want[1] = byte(h), byte(h>>8)
			for rr := range 32 {
				want[2+rr] = byte(int8(math.RoundToEven(float64(tile[rr*cols+c] * id))))
			}
			if !bytes.Equal(got[c*stride:c*stride+q8Block], want) {
				t.Fatalf("%d columns: column %d is % x, want % x", cols, c, got[c*stride:c*stride+q8Block], want)
			}
		}
	}
	if got := []int32{roundEven(2.5), roundEven(-3.5), roundEven(126.6), roundEven(-0.4)}; got[0] != 2 || got[1] != -4 || got[2] != 127 || got[3] != 0 {
		t.Errorf("roundEven: %v", got)
	}
}

// BenchmarkQuantizeColumnsQ8 quantizes the columns of a 32-row tile of
// Qwen2.5-0.5B's FFN width, as the transposed products do for every
// 32 rows of a matrix.
func BenchmarkQuantizeColumnsQ8(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const cols = 4864
	tile := randVec32(r, 32*cols, 0, 1)
	dst := make([]byte, cols*q8Block)
	b.SetBytes(32 * cols * 4)
	for b.Loop() {
		quantizeColumnsQ8(tile, cols, dst, q8Block)
	}
}
