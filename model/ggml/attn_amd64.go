//go:build !noasm && amd64

package ggml

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

// scoresF16Asm is scoresF16Go in the assembly of level lv (the AVX-512
// forms for whole blocks of 16, the AVX2 ones for blocks of 8); it reports
// false, doing nothing, at levelGo.
func scoresF16Asm(lv vecLevel, dst []float32, kT []uint16, stride int, q []float32, scale float32) bool {
	if lv == vecGo {
		return false
	}
	n16 := 0
	if lv == vecAVX512 {
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

// accumulateF16Asm is accumulateF16Go in the assembly of level lv, as
// scoresF16Asm.
func accumulateF16Asm(lv vecLevel, acc []float64, values []uint16, stride int, p []float32) bool {
	if lv == vecGo {
		return false
	}
	d16 := 0
	if lv == vecAVX512 {
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
