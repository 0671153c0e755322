//go:build noasm || !amd64

package ggml

// haveQ8RefAVX512 is always false without the assembly kernels.
var haveQ8RefAVX512 = false

func quantizeQ8_0RefAsm([]float32, []int8, []float32, []int32) bool { return false }
