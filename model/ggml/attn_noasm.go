//go:build noasm || !amd64

package ggml

func scoresF16Asm([]float32, []uint16, int, []float32, float32) bool { return false }

func accumulateF16Asm([]float64, []uint16, int, []float32) bool { return false }

// haveF16C is always false without the assembly kernels.
var haveF16C = false

// haveAVX512Attn is always false without the assembly kernels.
var haveAVX512Attn = false
