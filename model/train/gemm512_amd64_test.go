//go:build !noasm

package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemm4x32 checks the AVX-512 gemm4x32 bit for bit against two calls
// of gemm4x16 (the AVX2/FMA kernel), adding to nonzero outputs.
func TestGemm4x32(t *testing.T) {
	if !haveGemm() || !haveGemm32 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(3, 2))
	for _, nr := range []int{0, 1, 7, 64, 301} {
		const wstride = 48
		w := randVec32(r, nr*wstride+32, 0, 1)
		dyv := randVec32(r, 4*(nr+1), 0, 1)
		start := randVec32(r, 4*32, 0, 1)
		var out [2][]float32
		for k, avx512 := range []bool{false, true} {
			haveGemm32 = avx512
			out[k] = append([]float32(nil), start...)
			var dx, dy [4]*float32
			for i := range 4 {
				dx[i], dy[i] = &out[k][i*32], &dyv[i*(nr+1)]
			}
			gemm4x32(&dx, &dy, w, wstride, nr)
		}
		haveGemm32 = true
		for i, v := range out[1] {
			if math.Float32bits(v) != math.Float32bits(out[0][i]) {
				t.Fatalf("nr %d: element %d is %g, want %g", nr, i, v, out[0][i])
			}
		}
	}
}

// TestTransposeTile checks the gathered transpose against the Go loop.
func TestTransposeTile(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, c := range []struct{ rows, cols int }{{16, 1}, {32, 896}, {64, 37}} {
		tile := randVec32(r, c.rows*c.cols, 0, 1)
		got, want := make([]float32, c.rows*c.cols), make([]float32, c.rows*c.cols)
		transposeTile(got, tile, c.rows, c.cols)
		transposeTileGo(want, tile, c.rows, c.cols)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%dx%d: element %d is %g, want %g", c.rows, c.cols, i, got[i], want[i])
			}
		}
	}
}
