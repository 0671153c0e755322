//go:build !noasm && amd64

package ggml

import (
	"bytes"
	"unsafe"
)

// The 256-bit kernels of the packed 32-element layouts (pack32v_amd64.s):
// the AVX-512 kernels' layout, read as two halves of eight rows, for CPUs
// with AVX2 and no AVX-512 (AVX-VNNI where the CPU has it).

//go:noescape
func pk32Q8AVXVNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

//go:noescape
func pk32Q4AVXVNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

//go:noescape
func pk32Q5AVXVNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

//go:noescape
func pk32Q8AVX2(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

//go:noescape
func pk32Q8SignAVX2(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

//go:noescape
func pk32Q4AVX2(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

//go:noescape
func pk32Q5AVX2(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)

// The packed layouts of the 32-element block types for the 256-bit sets
// (typeInfo.pack256): the same bytes as packedQ8_0 and the others, other
// kernels. Without VNNI, Q8_0 runs pk32Q8SignAVX2: the sign trick of
// ggml's AVX2 dot product (|w| times a·sign(w), one VPMADDUBSW per
// vector, exact while the activation's quants stay above -128), two
// activations at a time against a group's 16 rows. A batch holding a -128
// quant (only NaN or infinite inputs quantize to it) runs pk32Q8AVX2,
// which splits the unsigned levels into nibbles and takes any quants.
// BenchmarkPacked32 (GFLOP per CPU-second, one thread, AVX-512 masked
// off, medians of 3 on a shared machine): the sign kernel is 1.6–2.3× the
// "avx2" set's matrix kernel on 64 and 512 activations and 1.3–2.5× on
// one, so the "avx2 packed" set packs Q8_0.
var (
	packed256Q8_0 = &packing{group: pk32Group, pack: pk32Q8_0.pack, row: pk32Q8_0.row, mat: pk32Q8_0.mat256}
	packed256Q4_0 = &packing{group: pk32Group, pack: pk32Q4_0.pack, row: pk32Q4_0.row, mat: pk32Q4_0.mat256}
	packed256Q5_0 = &packing{group: pk32Group, pack: pk32Q5_0.pack, row: pk32Q5_0.row, mat: pk32Q5_0.mat256}
)

// mat256 is matVNNI's 256-bit counterpart: rows [r0, r1) (multiples of
// 16) of the packed matrix w times every activation, with the AVX-VNNI
// kernels where the set runs them (ks.avxVNNI), else the AVX2 ones.
func (l *pk32Layout) mat256(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
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
		w0, ng := &w[r0*rs], (r1-r0)/pk32Group
		switch {
		case l.typ == Q8_0 && ks.avxVNNI:
			pk32Q8AVXVNNI(w0, gb, ng, nb, &acts[0], nt, pf)
		case l.typ == Q4_0 && ks.avxVNNI:
			pk32Q4AVXVNNI(w0, gb, ng, nb, &acts[0], nt, pf)
		case l.typ == Q5_0 && ks.avxVNNI:
			pk32Q5AVXVNNI(w0, gb, ng, nb, &acts[0], nt, pf)
		case l.typ == Q8_0 && (ks.pk32Q8Nibbles || anyMinInt8(xs[t0:t0+nt])):
			pk32Q8AVX2(w0, gb, ng, nb, &acts[0], nt, pf)
		case l.typ == Q8_0:
			// prefetching helps here even with one activation (the
			// output matrix streamed from memory: about 1.6× as fast)
			pk32Q8SignAVX2(w0, gb, ng, nb, &acts[0], nt, ks.pk32Prefetch)
		case l.typ == Q4_0:
			pk32Q4AVX2(w0, gb, ng, nb, &acts[0], nt, pf)
		case l.typ == Q5_0:
			pk32Q5AVX2(w0, gb, ng, nb, &acts[0], nt, pf)
		}
	}
}

// anyMinInt8 reports whether a quant of xs is -128, which the sign-trick
// kernel cannot negate (VPSIGNB leaves -128 as it is). bytes.IndexByte
// scans a 896-quant activation in tens of nanoseconds, next to the
// microseconds each activation spends in the kernel per call.
func anyMinInt8(xs []*Activation) bool {
	for _, a := range xs {
		q := a.qs[:a.n]
		if bytes.IndexByte(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(q))), len(q)), 0x80) >= 0 {
			return true
		}
	}
	return false
}
