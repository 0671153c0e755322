//go:build !noasm && arm64

package ggml

import "golang.org/x/sys/cpu"

// cpuFeatures is what this CPU offers the NEON kernels, read once: every
// arm64 CPU has NEON (ASIMD); the dot-product (SDOT, ARMv8.2's optional
// DotProd, mandatory from v8.4) and int8 matrix-multiply (SMMLA, ARMv8.6's
// I8MM) instructions are optional.
var cpuFeatures = features{
	asimd: cpu.ARM64.HasASIMD, dotprod: cpu.ARM64.HasASIMDDP, i8mm: cpu.ARM64.HasI8MM,
}

// asmBuild: the assembly kernels are built in.
const asmBuild = true
