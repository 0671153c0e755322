//go:build !noasm && amd64

package ggml

import "golang.org/x/sys/cpu"

// haveF16C selects the AVX2/F16C attention kernels; tests switch it off to
// compare them with the pure-Go ones.
var haveF16C = cpu.X86.HasAVX2 && cpu.X86.HasF16C

// haveAVX512Attn selects the AVX-512 forms for the bulk of the work
// (whole blocks of 16); tests switch it off too.
var haveAVX512Attn = haveF16C && cpu.X86.HasAVX512F

// scoresF16AVX2 is scoresF16Go for n a multiple of 8 and dim > 0.
//
//go:noescape
func scoresF16AVX2(dst *float32, n int, kT *uint16, stride int, q *float32, dim int, scale float32)

// accumulateF16AVX2 is accumulateF16Go for dim a multiple of 8 and n > 0.
//
//go:noescape
func accumulateF16AVX2(acc *float64, dim int, values *uint16, stride int, p *float32, n int)

// scoresF16AVX512 is scoresF16Go for n a multiple of 16 and dim > 0.
//
//go:noescape
func scoresF16AVX512(dst *float32, n int, kT *uint16, stride int, q *float32, dim int, scale float32)

// accumulateF16AVX512 is accumulateF16Go for dim a multiple of 16 and n > 0.
//
//go:noescape
func accumulateF16AVX512(acc *float64, dim int, values *uint16, stride int, p *float32, n int)

func scoresF16Asm(dst []float32, kT []uint16, stride int, q []float32, scale float32) bool {
	if !haveF16C {
		return false
	}
	n16 := 0
	if haveAVX512Attn {
		n16 = len(dst) &^ 15
		if n16 > 0 {
			scoresF16AVX512(&dst[0], n16, &kT[0], stride, &q[0], len(q), scale)
		}
	}
	n8 := len(dst) &^ 7
	if n8 > n16 {
		scoresF16AVX2(&dst[n16], n8-n16, &kT[n16], stride, &q[0], len(q), scale)
	}
	if n8 < len(dst) {
		scoresF16Go(dst[n8:], kT[n8:], stride, q, scale)
	}
	return true
}

func accumulateF16Asm(acc []float64, values []uint16, stride int, p []float32) bool {
	if !haveF16C {
		return false
	}
	d16 := 0
	if haveAVX512Attn {
		d16 = len(acc) &^ 15
		if d16 > 0 {
			accumulateF16AVX512(&acc[0], d16, &values[0], stride, &p[0], len(p))
		}
	}
	d8 := len(acc) &^ 7
	if d8 > d16 {
		accumulateF16AVX2(&acc[d16], d8-d16, &values[d16], stride, &p[0], len(p))
	}
	if d8 < len(acc) {
		accumulateF16Go(acc[d8:], values[d8:], stride, p)
	}
	return true
}
