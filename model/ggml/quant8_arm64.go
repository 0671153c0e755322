//go:build !noasm && arm64

package ggml

//go:noescape
func quantQ8RefNeon(x *float32, nb int, qs *int8, d *float32, nsq *int32)

// quantizeQ8_0RefAsm is quantizeQ8_0Ref in NEON; it reports false (and
// does nothing) at levels other than vecNEON.
func quantizeQ8_0RefAsm(lv vecLevel, x []float32, qs []int8, d []float32, nsq []int32) bool {
	if lv != vecNEON {
		return false
	}
	nb := len(x) / 32
	if nb == 0 {
		return true
	}
	// Bounds checks keep a caller's slip from becoming a wild write.
	_, _, _ = qs[32*nb-1], d[nb-1], nsq[nb-1]
	quantQ8RefNeon(&x[0], nb, &qs[0], &d[0], &nsq[0])
	return true
}
