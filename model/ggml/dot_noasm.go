//go:build noasm || !amd64

package ggml

// haveAVX2 is always false without the assembly kernels.
var haveAVX2 = false

func asmKernel(Type) rowDot { return nil }
