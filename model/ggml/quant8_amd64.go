//go:build !noasm && amd64

package ggml

//go:noescape
func quantQ8RefAVX512(x *float32, nb int, qs *int8, d *float32, nsq *int32)

//go:noescape
func quantQ8RefAVX2(x *float32, nb int, qs *int8, d *float32, nsq *int32)

// quantizeQ8_0RefAsm is quantizeQ8_0Ref in the assembly of level lv; it
// reports false (and does nothing) at vecGo.
func quantizeQ8_0RefAsm(lv vecLevel, x []float32, qs []int8, d []float32, nsq []int32) bool {
	if lv == vecGo {
		return false
	}
	nb := len(x) / 32
	if nb == 0 {
		return true
	}
	// Bounds checks keep a caller's slip from becoming a wild write.
	_, _, _ = qs[32*nb-1], d[nb-1], nsq[nb-1]
	if lv == vecAVX512 {
		quantQ8RefAVX512(&x[0], nb, &qs[0], &d[0], &nsq[0])
	} else {
		quantQ8RefAVX2(&x[0], nb, &qs[0], &d[0], &nsq[0])
	}
	return true
}
