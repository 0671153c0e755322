//go:build !noasm && amd64

package ggml

//go:noescape
func pk32Q8VNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

//go:noescape
func pk32Q4VNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

//go:noescape
func pk32Q5VNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

// pk32Act is one activation as the kernels read it (32 bytes: the slot
// offsets in pack32_amd64.s).
type pk32Act struct {
	q  *int8    // quants
	d  *float32 // block scales
	ns *int32   // minus the block quant sums
	y  *float32 // output row, at the first row of the call
}

// pk32Batch is how many activations one kernel call takes; the kernel
// reads each group's weights once per eight of them.
const pk32Batch = 64

// The packed layouts of the 32-element block types (typeInfo.pack): they
// run on AVX-512 F, BW, VL and VNNI, as the mat32 VNNI kernels.
var (
	packedQ8_0 = &packing{group: pk32Group, pack: pk32Q8_0.pack, row: pk32Q8_0.row, mat: pk32Q8_0.matVNNI}
	packedQ4_0 = &packing{group: pk32Group, pack: pk32Q4_0.pack, row: pk32Q4_0.row, mat: pk32Q4_0.matVNNI}
	packedQ5_0 = &packing{group: pk32Group, pack: pk32Q5_0.pack, row: pk32Q5_0.row, mat: pk32Q5_0.matVNNI}
)

// matVNNI is the packed layouts' matKernel: rows [r0, r1) (multiples of
// 16) of the packed matrix w times every activation.
//
// The kernel set's pk32Prefetch is how far ahead (bytes) the kernels
// prefetch the weight stream when they multiply it by two or more
// activations; 0 switches prefetching off. With one activation the
// hardware prefetchers keep up alone (streaming the 151936×896 output
// matrix from memory: about 10% faster without prefetching), with more the
// kernel computes longer per byte and a stream prefetched 16 KiB ahead is
// about 10% faster.
func (l *pk32Layout) matVNNI(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	if len(xs) == 0 || r1 <= r0 || xs[0].n < 32 {
		return
	}
	nb := xs[0].n / 32
	gb := pk32Group * rs
	var acts [pk32Batch]pk32Act
	pf := ks.pk32Prefetch
	if len(xs) == 1 {
		pf = 0
	}
	for t0 := 0; t0 < len(xs); t0 += pk32Batch {
		nt := min(pk32Batch, len(xs)-t0)
		for i, a := range xs[t0 : t0+nt] {
			acts[i] = pk32Act{&a.qs[0], &a.d[0], &a.nsq[0], &ys[t0+i][r0]}
		}
		// direct calls (not through a func value) keep acts on the stack
		switch l.typ {
		case Q8_0:
			pk32Q8VNNI(&w[r0*rs], gb, (r1-r0)/pk32Group, nb, &acts[0], nt, pf)
		case Q4_0:
			pk32Q4VNNI(&w[r0*rs], gb, (r1-r0)/pk32Group, nb, &acts[0], nt, pf)
		case Q5_0:
			pk32Q5VNNI(&w[r0*rs], gb, (r1-r0)/pk32Group, nb, &acts[0], nt, pf)
		}
	}
}
