//go:build !noasm && amd64

package ggml

import "golang.org/x/sys/cpu"

// haveQ8RefAVX512 and haveQ8RefAVX2 select the assembly Q8_0 activation
// quantizers (the first one available wins); tests switch them off to
// compare each with the pure-Go one.
var (
	haveQ8RefAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX && cpu.X86.HasF16C
	haveQ8RefAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasF16C
)

//go:noescape
func quantQ8RefAVX512(x *float32, nb int, qs *int8, d *float32, nsq *int32)

//go:noescape
func quantQ8RefAVX2(x *float32, nb int, qs *int8, d *float32, nsq *int32)

// quantizeQ8_0RefAsm is quantizeQ8_0Ref in assembly; it reports false
// (and does nothing) where the CPU lacks the instructions.
func quantizeQ8_0RefAsm(x []float32, qs []int8, d []float32, nsq []int32) bool {
	if !haveQ8RefAVX512 && !haveQ8RefAVX2 {
		return false
	}
	nb := len(x) / 32
	if nb == 0 {
		return true
	}
	// Bounds checks keep a caller's slip from becoming a wild write.
	_, _, _ = qs[32*nb-1], d[nb-1], nsq[nb-1]
	if haveQ8RefAVX512 {
		quantQ8RefAVX512(&x[0], nb, &qs[0], &d[0], &nsq[0])
	} else {
		quantQ8RefAVX2(&x[0], nb, &qs[0], &d[0], &nsq[0])
	}
	return true
}
