// Package ggml knows the tensor types of GGUF files exactly as ggml lays
// them out: block sizes, byte sizes, quantization and dequantization, and
// the dot-product and matrix-vector kernels the engine runs on them.
//
// The arithmetic follows ggml's CPU backend so that chatloop reproduces
// llama.cpp's generations: Quantize is ggml's reference quantizer
// (quantize_row_*_ref, byte for byte), Dequantize is dequantize_row_*
// (bit for bit), and a matrix-vector product first converts the activation
// vector to the weight type's vec_dot type (Q8_0, Q8_1, Q8_K, F16, BF16 or
// F32, see VecDotType and Activation), then sums exact integer products per
// block and scales and accumulates them in float32 in the order of ggml's
// portable ggml_vec_dot_* kernels. Against the portable CPU build of ggml
// the results are identical; against the AVX2 build they agree to within a
// few float32 ulps of the summed magnitudes (that build adds the same block
// products in a different order). The golden tests check both.
//
// On amd64 with AVX2 the integer parts run in assembly (build tag noasm
// turns it off); the pure-Go kernels are the fallback and are tested
// against the assembly bit for bit.
package ggml

import "fmt"

// Type is a ggml tensor type, numbered as in ggml.h (enum ggml_type).
type Type uint32

// The tensor types chatloop reads and writes. Numbers are ggml's.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q4_1 Type = 3
	Q5_0 Type = 6
	Q5_1 Type = 7
	Q8_0 Type = 8
	Q8_1 Type = 9
	Q2_K Type = 10
	Q3_K Type = 11
	Q4_K Type = 12
	Q5_K Type = 13
	Q6_K Type = 14
	Q8_K Type = 15
	BF16 Type = 30
)

// QK_K is the super-block size of the K-quants.
const QK_K = 256

type traits struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block
}

var table = map[Type]traits{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	BF16: {"BF16", 1, 2},
	Q4_0: {"Q4_0", 32, 2 + 16},
	Q4_1: {"Q4_1", 32, 2 + 2 + 16},
	Q5_0: {"Q5_0", 32, 2 + 4 + 16},
	Q5_1: {"Q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0: {"Q8_0", 32, 2 + 32},
	Q8_1: {"Q8_1", 32, 2 + 2 + 32},
	Q2_K: {"Q2_K", QK_K, QK_K/16 + QK_K/4 + 2 + 2},
	Q3_K: {"Q3_K", QK_K, QK_K/8 + QK_K/4 + 12 + 2},
	Q4_K: {"Q4_K", QK_K, 2 + 2 + 12 + QK_K/2},
	Q5_K: {"Q5_K", QK_K, 2 + 2 + 12 + QK_K/8 + QK_K/2},
	Q6_K: {"Q6_K", QK_K, QK_K/2 + QK_K/4 + QK_K/16 + 2},
	Q8_K: {"Q8_K", QK_K, 4 + QK_K + QK_K/16*2},
}

// Known reports whether chatloop knows t's layout.
func (t Type) Known() bool { _, ok := table[t]; return ok }

// String is ggml's name of the type ("Q8_0"), or "type(N)".
func (t Type) String() string {
	if tr, ok := table[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block (1 for float types).
func (t Type) BlockSize() int { return table[t].blockSize }

// TypeSize is the number of bytes of one block.
func (t Type) TypeSize() int { return table[t].typeSize }

// RowSize is the number of bytes of n elements, or an error when n is not
// a whole number of blocks or t is unknown.
func (t Type) RowSize(n int64) (int64, error) {
	tr, ok := table[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t))
	}
	if n < 0 || n%int64(tr.blockSize) != 0 {
		return 0, fmt.Errorf("%s: %d elements are not a whole number of %d-element blocks", tr.name, n, tr.blockSize)
	}
	return n / int64(tr.blockSize) * int64(tr.typeSize), nil
}

// ParseType maps a ggml type name ("q4_k", "Q8_0", "f16") to its Type.
func ParseType(name string) (Type, error) {
	for t, tr := range table {
		if equalFold(tr.name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown tensor type %q", name)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
