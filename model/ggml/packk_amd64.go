//go:build !noasm && amd64

package ggml

//go:noescape
func pkQ4KPrep(qs *int8, bsums *int16, d *float32, nb int, perm *byte, rec *byte)

//go:noescape
func pkQ6KPrep(qs *int8, d *float32, nb int, perm *byte, rec *byte)

//go:noescape
func pkQ4KVNNI(w *byte, rec *byte, nb int, scr *byte, out *float32)

//go:noescape
func pkQ6KVNNI(w *byte, rec *byte, nb int, out *float32)

//go:noescape
func pkQ5KVNNI(w *byte, rec *byte, nb int, scr *byte, out *float32)

// The two-activation kernels decode each weight vector once for both.

//go:noescape
func pkQ4KVNNI2(w, rec0, rec1 *byte, nb int, scr *byte, out0, out1 *float32)

//go:noescape
func pkQ6KVNNI2(w, rec0, rec1 *byte, nb int, scr *byte, out0, out1 *float32)

//go:noescape
func pkQ5KVNNI2(w, rec0, rec1 *byte, nb int, scr *byte, out0, out1 *float32)

// An activation is rewritten for the packed kernels once per call, into
// one record per super-block (pkQ4KPrep, pkQ6KPrep):
//
//	Q4_K and Q5_K (320 bytes): 0 the 256 quants permuted so that dword 8s+l holds
//	the elements of sub-block s in lane l (bytes 32s+l+8e, e = 0..3, as
//	the weights' vectors); 256 the eight bsum pairs bs[2s]+bs[2s+1] as
//	int16; 272 d.
//	Q6_K (576 bytes): 0 the quants permuted as for Q4_K (dword 8u+l holds
//	the elements of part u, lane l); 256 for each of those
//	dwords the two words -32·(sum of its two byte pairs), which remove the
//	levels' bias of 32 when multiplied by the scales; 512 d.
const (
	pkQ4KRec = 320
	pkQ6KRec = 576
)

// pkKPerm is the VPERMB index of the activation records, for 64 quants
// (two sub-blocks of Q4_K, two parts of Q6_K): byte 4(8h+l)+e is quant
// 32h+l+8e.
var pkKPerm [64]byte

func init() {
	for half := 0; half < 2; half++ {
		for l := 0; l < 8; l++ {
			for e := 0; e < 4; e++ {
				pkKPerm[4*(8*half+l)+e] = byte(32*half + l + 8*e)
			}
		}
	}
}

// The packed K-quant layouts (typeInfo.pack): they run on AVX-512 F, BW,
// VL, VBMI and VNNI.
var (
	packedQ4K = &packing{vbmi: true, group: pkKGroup, pack: packQ4K, row: rowQ4K, mat: matQ4KPacked}
	packedQ5K = &packing{vbmi: true, group: pkKGroup, pack: packQ5K, row: rowQ5K, mat: matQ5KPacked}
	packedQ6K = &packing{vbmi: true, group: pkKGroup, pack: packQ6K, row: rowQ6K, mat: matQ6KPacked}
)

// pkKActBlock is how many activations are prepared at a time: their
// records (pkKActBlock × 35 × 576 bytes for 8960 columns) stay in L2 while
// every group of the call's rows is multiplied by them.
const pkKActBlock = 16

// pkKScratch holds one call's activation records and the kernels'
// scratch memory: decoded scales (256 bytes), then the float sums of the
// two-activation kernels (2 × 512 bytes).
type pkKScratch struct {
	rec []byte
	scr [1280]byte
}

// pkKScratches keeps the scratch of finished calls.
var pkKScratches = newFreeList[pkKScratch]()

// matQ4KPacked is the packed Q4_K matKernel: rows [r0, r1) (multiples of
// 16) of the packed matrix w times every activation.
func matQ4KPacked(_ *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	matKPacked(Q4_K, w, rs, r0, r1, xs, ys)
}

// matQ5KPacked is the packed Q5_K matKernel.
func matQ5KPacked(_ *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	matKPacked(Q5_K, w, rs, r0, r1, xs, ys)
}

// matQ6KPacked is the packed Q6_K matKernel.
func matQ6KPacked(_ *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	matKPacked(Q6_K, w, rs, r0, r1, xs, ys)
}

func matKPacked(t Type, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	if len(xs) == 0 || r1 <= r0 {
		return
	}
	nb := xs[0].n / QK_K
	if nb == 0 {
		return
	}
	recSize, block := pkQ4KRec, pkQ4KBlock
	switch t {
	case Q5_K:
		block = pkQ5KBlock
	case Q6_K:
		recSize, block = pkQ6KRec, pkQ6KBlock
	}
	w = w[r0*rs : r1*rs]
	_ = w[pkKGroup*nb*block-1]
	gb := pkKGroup * rs
	s := pkKScratches.get()
	defer pkKScratches.put(s)
	n := nb * recSize
	for a0 := 0; a0 < len(xs); a0 += pkKActBlock {
		a1 := min(a0+pkKActBlock, len(xs))
		s.rec = grow(s.rec, (a1-a0)*n)
		for i, a := range xs[a0:a1] {
			qs, d := a.qs[:nb*QK_K], a.d[:nb]
			rec := s.rec[i*n : (i+1)*n]
			if t == Q6_K {
				pkQ6KPrep(&qs[0], &d[0], nb, &pkKPerm[0], &rec[0])
			} else {
				bs := a.bsums[:nb*16]
				pkQ4KPrep(&qs[0], &bs[0], &d[0], nb, &pkKPerm[0], &rec[0])
			}
		}
		for g := 0; g < len(w); g += gb {
			r := r0 + g/rs
			i := a0
			for ; i+1 < a1; i += 2 {
				y0, y1 := ys[i][r:r+pkKGroup], ys[i+1][r:r+pkKGroup]
				rec0, rec1 := &s.rec[(i-a0)*n], &s.rec[(i+1-a0)*n]
				switch t {
				case Q4_K:
					pkQ4KVNNI2(&w[g], rec0, rec1, nb, &s.scr[0], &y0[0], &y1[0])
				case Q5_K:
					pkQ5KVNNI2(&w[g], rec0, rec1, nb, &s.scr[0], &y0[0], &y1[0])
				case Q6_K:
					pkQ6KVNNI2(&w[g], rec0, rec1, nb, &s.scr[0], &y0[0], &y1[0])
				}
			}
			if i < a1 {
				y := ys[i][r : r+pkKGroup]
				switch t {
				case Q4_K:
					pkQ4KVNNI(&w[g], &s.rec[(i-a0)*n], nb, &s.scr[0], &y[0])
				case Q5_K:
					pkQ5KVNNI(&w[g], &s.rec[(i-a0)*n], nb, &s.scr[0], &y[0])
				case Q6_K:
					pkQ6KVNNI(&w[g], &s.rec[(i-a0)*n], nb, &y[0])
				}
			}
		}
	}
}
