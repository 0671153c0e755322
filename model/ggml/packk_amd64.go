//go:build !noasm && amd64

package ggml

import "golang.org/x/sys/cpu"

// havePkKVNNI says whether this CPU runs the packed K-quant kernels
// (AVX-512 F, BW, VL, VBMI and VNNI).
var havePkKVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512VBMI && cpu.X86.HasAVX512VNNI

func init() {
	if !havePkKVNNI {
		return
	}
	packings[Q4_K] = &packing{group: pkKGroup, pack: packQ4K, row: rowQ4K, mat: matPackedRows(rowQ4K, dotQ4_K)}
	packings[Q6_K] = &packing{group: pkKGroup, pack: packQ6K, row: rowQ6K, mat: matPackedRows(rowQ6K, dotQ6_K)}
}

// matPackedRows is a packed layout's matKernel that unpacks each row and
// runs the row kernel (slow; a stand-in for the assembly kernels).
func matPackedRows(row func(dst, src []byte, rs, nb, i int), dot rowDot) matKernel {
	return func(w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
		buf := make([]byte, rs)
		nb := xs[0].n / QK_K
		for r := r0; r < r1; r++ {
			g := r / pkKGroup
			row(buf, w[g*pkKGroup*rs:(g+1)*pkKGroup*rs], rs, nb, r%pkKGroup)
			for i, a := range xs {
				ys[i][r] = dot(buf, a)
			}
		}
	}
}
