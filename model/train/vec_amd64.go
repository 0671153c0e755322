//go:build !noasm

package train

import (
	"unsafe"

	"github.com/chatloop/chatloop/model/ggml"
	"golang.org/x/sys/cpu"
)

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

// haveGemm32 selects the AVX-512 kernel of gemm4x32; tests switch it off
// to compare it with two gemm4x16 calls.
var haveGemm32 = haveFMA && cpu.X86.HasAVX512F

//go:noescape
func gemm4x32AVX512(dx *[4]*float32, dy *[4]*float32, w *float32, wstride int, nr int)

// gemm4x32 is gemm4x16 on 32 columns: dx[i][:32] += Σ_{r<nr}
// dy[i][r]·w[r*wstride:][:32], with the same results bit for bit.
func gemm4x32(dx, dy *[4]*float32, w []float32, wstride, nr int) {
	if haveGemm32 {
		gemm4x32AVX512(dx, dy, &w[0], wstride, nr)
		return
	}
	gemm4x16FMA(dx, dy, &w[0], wstride, nr)
	var dx2 [4]*float32
	for i, p := range dx {
		dx2[i] = (*float32)(unsafe.Add(unsafe.Pointer(p), 64))
	}
	gemm4x16FMA(&dx2, dy, &w[16], wstride, nr)
}

//go:noescape
func transpose16AVX512(dst *float32, dstStride int, src *float32, idx *[16]int32, cols int)

// transposeTile writes the first rows rows of tile (cols wide, rows a
// multiple of 16) into dst as cols rows of rows values: sixteen rows at a
// time gathered with AVX-512 where the CPU has it.
func transposeTile(dst, tile []float32, rows, cols int) {
	if !haveGemm32 || rows%16 != 0 || 16*cols >= 1<<31 {
		transposeTileGo(dst, tile, rows, cols)
		return
	}
	_ = dst[(cols-1)*rows+rows-1]
	_ = tile[rows*cols-1]
	var idx [16]int32
	for i := range idx {
		idx[i] = int32(i * cols)
	}
	for r0 := 0; r0 < rows; r0 += 16 {
		transpose16AVX512(&dst[r0], rows, &tile[r0*cols], &idx, cols)
	}
}

// haveF16C selects the F16C conversion of F16 rows.
var haveF16C = cpu.X86.HasAVX && cpu.X86.HasF16C

//go:noescape
func f16toF32F16C(dst *float32, src *uint16, n int)

// decodeF16 converts the little-endian F16 values of src into dst
// (len(src)/2 of them), eight at a time with F16C where the CPU has it.
// The conversion is exact, so the result is ggml.Dequantize's.
func decodeF16(src []byte, dst []float32) bool {
	n := len(src) / 2
	if !haveF16C || n < 8 || len(dst) < n {
		return false
	}
	k := n &^ 7
	f16toF32F16C(&dst[0], (*uint16)(unsafe.Pointer(&src[0])), k)
	for i := k; i < n; i++ {
		dst[i] = ggml.FP16ToFP32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
	}
	return true
}
