//go:build noasm || !amd64

package ggml

// Without the assembly (build tag noasm, or not amd64) the type records'
// assembly kernels are nil, and every Kernels set runs the pure-Go ones.
var (
	dotQ4_0AVX2, dotQ4_1AVX2, dotQ5_0AVX2, dotQ5_1AVX2, dotQ8_0AVX2 rowDot
	dotQ4_KAVX2, dotQ5_KAVX2, dotQ6_KAVX2                           rowDot

	matQ4_0, matQ5_0, matQ8_0, matQ4K, matQ5K, matQ6K matKernel

	packedQ4_0, packedQ5_0, packedQ8_0, packedQ4K, packedQ5K, packedQ6K *packing
	packed256Q4_0, packed256Q5_0, packed256Q8_0                         *packing

	m32RepackAsm func(xr []byte, xd []float32, xs []*Activation, nb int)
)
