//go:build !noasm

package train

import "golang.org/x/sys/cpu"

// haveFMA selects the AVX2/FMA kernels; tests switch it off to compare
// them with the pure-Go ones.
var haveFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotFMA(a, b *float32, n int) float32

//go:noescape
func axpyFMA(y, x *float32, a float32, n int)

func dot32(a, b []float32) float32 {
	if haveFMA {
		b = b[:len(a)]
		return dotFMA(&a[0], &b[0], len(a))
	}
	return dotGo(a, b)
}

func axpy32(y []float32, a float32, x []float32) {
	if haveFMA {
		x = x[:len(y)]
		axpyFMA(&y[0], &x[0], a, len(y))
		return
	}
	axpyGo(y, a, x)
}

//go:noescape
func gemm4x16FMA(dx *[4]*float32, dy *[4]*float32, w *float32, wstride int, nr int)

// haveGemm says gemm4x16 runs the SIMD kernel.
func haveGemm() bool { return haveFMA }

// gemm4x16 adds Σ_{r<nr} dy[i][r]·w[r*wstride:][:16] to dx[i][:16] for
// four rows i, the register-blocked kernel of the transposed products.
func gemm4x16(dx, dy *[4]*float32, w []float32, wstride, nr int) {
	gemm4x16FMA(dx, dy, &w[0], wstride, nr)
}
