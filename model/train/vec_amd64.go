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
