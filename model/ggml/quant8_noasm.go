//go:build noasm || !(amd64 || arm64)

package ggml

// Without the assembly kernels there is no assembly quantizer.
func quantizeQ8_0RefAsm(vecLevel, []float32, []int8, []float32, []int32) bool { return false }
