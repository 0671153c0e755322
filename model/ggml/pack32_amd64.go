//go:build !noasm && amd64

package ggml

import "golang.org/x/sys/cpu"

// havePk32VNNI says whether this CPU runs the packed 32-element kernels
// (AVX-512 F, BW, VL and VNNI, as the mat32 VNNI kernels).
var havePk32VNNI = cpu.X86.HasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW &&
	cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI

func init() {
	if !havePk32VNNI {
		return
	}
	l := &pk32Q8_0
	packings[Q8_0] = &packing{group: pk32Group, pack: l.pack, row: l.row, mat: l.matGo}
}
