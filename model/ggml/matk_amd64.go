//go:build !noasm && amd64

package ggml

import "math"

// Matrix kernels for Q4_K, Q5_K and Q6_K weights (Q8_K activations). Batches
// tile rows × activations: each weight super-block is unpacked once per tile
// (levels times sub-block scales, as int16) and multiplied with every
// activation of the tile by VPDPWSSD (VPMADDWD on AVX2), instead of being
// decoded again for every activation as the row kernels do. One activation
// (token generation; up to two on AVX2) takes the row-pair kernels, which
// decode two weight rows in registers: rows*VNNI widen the levels to int16
// for VPDPWSSD against a widened activation (prepareQ8K), rows*AVX2 keep
// them bytes for VPMADDUBSW against the activation's int8 quants, reordered
// the same way (prepareQ8KRows). Results equal the row kernels bit for
// bit: integer lane sums are exact in any order, and the float part repeats
// dot.go's operations for every (row, activation) pair.

//go:noescape
func unpackQ4KAVX2(b *byte, nb int, rec *int16)

//go:noescape
func unpackQ6KAVX2(b *byte, nb int, rec *int16)

//go:noescape
func unpackQ5KAVX2(b *byte, nb int, rec *int16)

//go:noescape
func permQ8KAVX2(q *int8, nb int, rec *int16)

//go:noescape
func rowsQ4KVNNI(w0, w1 *byte, a *int16, nb int, out *float32)

//go:noescape
func rowsQ5KVNNI(w0, w1 *byte, a *int16, nb int, out *float32)

//go:noescape
func rowsQ6KVNNI(w0, w1 *byte, a *int16, nb int, out *float32)

//go:noescape
func rowsQ4KAVX2(w0, w1 *byte, a *int16, nb int, out *float32)

//go:noescape
func rowsQ5KAVX2(w0, w1 *byte, a *int16, nb int, out *float32)

//go:noescape
func rowsQ6KAVX2(w0, w1 *byte, a *int16, nb int, out *float32)

//go:noescape
func prepQ8KRowsAVX2(q *int8, nb int, rec *int16)

//go:noescape
func tileKVNNI(w0, w1, a *int16, astride, nb, na, mins int, out *float32)

//go:noescape
func tileKAVX2(w0, w1, a *int16, astride, nb, na, mins int, out *float32)

// The layout of one super-block record (int16 units), shared with
// matk_amd64.s.
const (
	kRec       = 288 // int16 per record (576 bytes)
	kRecMins   = 256 // Q4_K mins, or an activation's bsum pairs
	kRecScales = 264 // sub-block scales (8 for Q4_K, 16 for Q6_K); an activation's d ×8
	kRecD      = 280 // float32 d
	kRecDmin   = 282 // float32 dmin
)

// kActBlock is how many activations share one unpacking of a weight row:
// their records (kActBlock × 19 × 576 bytes for 4864 columns) stay in L2.
const kActBlock = 16

// kScratch holds one call's unpacked rows and prepared activations.
type kScratch struct {
	w   []int16
	a   []int16
	out [8]float32
}

// kScratches keeps the scratch of finished calls.
var kScratches = newFreeList[kScratch]()

func putF32(r []int16, v float32) {
	b := math.Float32bits(v)
	r[0], r[1] = int16(uint16(b)), int16(uint16(b>>16))
}

// unpackQ4K fills nb records from one Q4_K row.
func unpackQ4K(rec []int16, row []byte, nb int) {
	row = row[:144*nb]
	rec = rec[:kRec*nb]
	if nb > 0 {
		unpackQ4KAVX2(&row[0], nb, &rec[0])
	}
}

// unpackQ5K fills nb records from one Q5_K row.
func unpackQ5K(rec []int16, row []byte, nb int) {
	row = row[:176*nb]
	rec = rec[:kRec*nb]
	if nb > 0 {
		unpackQ5KAVX2(&row[0], nb, &rec[0])
	}
}

// unpackQ6K fills nb records from one Q6_K row.
func unpackQ6K(rec []int16, row []byte, nb int) {
	row = row[:210*nb]
	rec = rec[:kRec*nb]
	if nb > 0 {
		unpackQ6KAVX2(&row[0], nb, &rec[0])
	}
}

// putQ8KSums writes one super-block's d into its activation record and,
// with mins, the bsum pairs (bs: its 16 bsums) of the Q4_K mins term.
func putQ8KSums(r *[kRec]int16, bs []int16, d float32, mins bool) {
	if mins {
		for s := 0; s < 8; s++ {
			r[kRecMins+s] = bs[2*s] + bs[2*s+1]
		}
	}
	putF32(r[kRecD:], d)
}

// prepareQ8K fills nb records from a Q8_K activation; mins adds the bsum
// pairs the Q4_K mins term needs.
func prepareQ8K(rec []int16, a *Activation, nb int, mins bool) {
	rec = rec[:kRec*nb]
	qs := a.qs[:QK_K*nb]
	bs := a.bsums[:16*nb]
	for i := 0; i < nb; i++ {
		r := (*[kRec]int16)(rec[kRec*i:])
		putQ8KSums(r, bs[16*i:], a.d[i], mins)
		for k := 0; k < 8; k++ { // d ×8 for the VNNI tile's vectors
			putF32(r[kRecScales+2*k:], a.d[i])
		}
	}
	if nb > 0 {
		permQ8KAVX2(&qs[0], nb, &rec[0])
	}
}

// prepareQ8KRows fills nb records for the AVX2 row-pair kernels from a
// Q8_K activation: the reordered quants and Q6_K's offset words
// (prepQ8KRowsAVX2), the bsum pairs of the Q4_K mins term and d.
func prepareQ8KRows(rec []int16, a *Activation, nb int, mins bool) {
	rec = rec[:kRec*nb]
	qs := a.qs[:QK_K*nb]
	bs := a.bsums[:16*nb]
	for i := 0; i < nb; i++ {
		putQ8KSums((*[kRec]int16)(rec[kRec*i:]), bs[16*i:], a.d[i], mins)
	}
	if nb > 0 {
		prepQ8KRowsAVX2(&qs[0], nb, &rec[0])
	}
}

// kQuant describes one K-quant weight type to matK.
type kQuant struct {
	typ        Type
	blockBytes int
	mins       bool                                               // Q4_K's mins term
	unpack     func([]int16, []byte, int)                         // weight records
	rows       func(w0, w1 *byte, a *int16, nb int, out *float32) // two rows × one activation (VNNI)
	rowsAVX2   func(w0, w1 *byte, a *int16, nb int, out *float32) // the same on AVX2
}

var (
	kQ4K = kQuant{Q4_K, 144, true, unpackQ4K, rowsQ4KVNNI, rowsQ4KAVX2}
	kQ5K = kQuant{Q5_K, 176, true, unpackQ5K, rowsQ5KVNNI, rowsQ5KAVX2}
	kQ6K = kQuant{Q6_K, 210, false, unpackQ6K, rowsQ6KVNNI, rowsQ6KAVX2}
)

// The matKernels of the K-quants (typeInfo.mat).
func matQ4K(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	matK(ks, &kQ4K, w, rs, r0, r1, xs, ys)
}

func matQ5K(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	matK(ks, &kQ5K, w, rs, r0, r1, xs, ys)
}

func matQ6K(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	matK(ks, &kQ6K, w, rs, r0, r1, xs, ys)
}

// matK multiplies rows [r0, r1) by every activation. Batches of up to
// ks.kRowsMaxActs activations (one with AVX-512 VNNI, two with AVX2: token
// generation) go through the row-pair kernel: with VNNI one activation
// after the other over all rows, with AVX2 every activation on each row
// pair while it is in L1.
// Otherwise, for each block of up to kActBlock activations, rows are
// unpacked two at a time and multiplied with the block's activations four
// (AVX-512), two or one at a time.
func matK(ks *Kernels, q *kQuant, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	if ks.level < levelAVX2 {
		rowLoop(ks.kernelsFor(q.typ).dot, w, rs, r0, r1, xs, ys)
		return
	}
	vnni := ks.level >= levelVNNI
	nb := rs / q.blockBytes
	if nb == 0 {
		for i := range xs {
			clear(ys[i][r0:r1])
		}
		return
	}
	s := kScratches.get()
	defer kScratches.put(s)
	n := kRec * nb
	s.w = grow(s.w, 2*n)
	s.a = grow(s.a, min(len(xs), kActBlock)*n)
	flag := 0
	if q.mins {
		flag = 1
	}
	tile, maxTile := tileKVNNI, 4
	if !vnni {
		tile, maxTile = tileKAVX2, 2
	}
	if vnni && len(xs) <= ks.kRowsMaxActs {
		for i, x := range xs {
			prepareQ8K(s.a[:n], x, nb, q.mins)
			for r := r0; r < r1; r += 2 {
				r2 := min(r+1, r1-1)
				q.rows(&w[r*rs], &w[r2*rs], &s.a[0], nb, &s.out[0])
				ys[i][r] = s.out[0]
				ys[i][r2] = s.out[1]
			}
		}
		return
	}
	if !vnni && q.rowsAVX2 != nil && len(xs) <= ks.kRowsMaxActs {
		// every activation takes each row pair while it is in L1
		for a0 := 0; a0 < len(xs); a0 += kActBlock {
			a1 := min(a0+kActBlock, len(xs))
			for i := a0; i < a1; i++ {
				prepareQ8KRows(s.a[(i-a0)*n:], xs[i], nb, q.mins)
			}
			for r := r0; r < r1; r += 2 {
				r2 := min(r+1, r1-1)
				for i := a0; i < a1; i++ {
					q.rowsAVX2(&w[r*rs], &w[r2*rs], &s.a[(i-a0)*n], nb, &s.out[0])
					ys[i][r] = s.out[0]
					ys[i][r2] = s.out[1]
				}
			}
		}
		return
	}
	for a0 := 0; a0 < len(xs); a0 += kActBlock {
		a1 := min(a0+kActBlock, len(xs))
		for i := a0; i < a1; i++ {
			prepareQ8K(s.a[(i-a0)*n:], xs[i], nb, q.mins)
		}
		for r := r0; r < r1; r += 2 {
			q.unpack(s.w[:n], w[r*rs:], nb)
			w1 := &s.w[0]
			two := r+1 < r1
			if two {
				q.unpack(s.w[n:], w[(r+1)*rs:], nb)
				w1 = &s.w[n]
			}
			for i := a0; i < a1; {
				na := 1
				switch {
				case a1-i >= 4 && maxTile == 4:
					na = 4
				case a1-i >= 2:
					na = 2
				}
				tile(&s.w[0], w1, &s.a[(i-a0)*n], 2*n, nb, na, flag, &s.out[0])
				for k := 0; k < na; k++ {
					ys[i+k][r] = s.out[k]
					if two {
						ys[i+k][r+1] = s.out[4+k]
					}
				}
				i += na
			}
		}
	}
}
