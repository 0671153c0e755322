//go:build noasm || !amd64

package train

func dot32(a, b []float32) float32 { return dotGo(a, b) }

func axpy32(y []float32, a float32, x []float32) { axpyGo(y, a, x) }

func haveGemm() bool { return false }

func gemm4x16(dx, dy *[4]*float32, w []float32, wstride, nr int) {
	panic("train: gemm4x16 without SIMD")
}

func gemm4x32(dx, dy *[4]*float32, w []float32, wstride, nr int) {
	panic("train: gemm4x32 without SIMD")
}

func decodeF16(src []byte, dst []float32) bool { return false }

func transposeTile(dst, tile []float32, rows, cols int) { transposeTileGo(dst, tile, rows, cols) }
