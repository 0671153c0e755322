//go:build noasm || !amd64

package ggml

// Without the assembly kernels there is no assembly quantizer.
var (
	haveQ8RefAVX512 = false
	haveQ8RefAVX2   = false
)

func quantizeQ8_0RefAsm([]float32, []int8, []float32, []int32) bool { return false }
