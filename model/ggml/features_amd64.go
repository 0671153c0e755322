//go:build !noasm && amd64

package ggml

import "golang.org/x/sys/cpu"

// cpuFeatures is what this CPU offers the assembly kernels, read once.
var cpuFeatures = features{
	avx: cpu.X86.HasAVX, avx2: cpu.X86.HasAVX2, f16c: cpu.X86.HasF16C,
	avx512f: cpu.X86.HasAVX512F, avx512bw: cpu.X86.HasAVX512BW, avx512vl: cpu.X86.HasAVX512VL,
	vnni: cpu.X86.HasAVX512VNNI, vbmi: cpu.X86.HasAVX512VBMI,
	avxVNNI: cpu.X86.HasAVXVNNI,
}

// asmBuild: the assembly kernels are built in.
const asmBuild = true
