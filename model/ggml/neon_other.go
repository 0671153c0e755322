//go:build noasm || !arm64

package ggml

// Without the NEON assembly (build tag noasm, or not arm64) no type has a
// NEON kernel.
func neonKernels(Type, level) (rowDot, matKernel) { return nil, nil }
