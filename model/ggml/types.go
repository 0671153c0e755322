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

// typeInfo is everything the package knows of one tensor type, in one
// record: its block layout, its reference conversions from and to float32,
// the activation type its dot products take (ggml's vec_dot_type), and its
// kernels from the pure-Go reference to the packed assembly. A Kernels set
// picks among the kernels once (Kernels.resolve). Fields a type lacks are
// nil; without the assembly (build tag noasm, or not amd64) the assembly
// kernels are nil variables (kernels_noasm.go).
type typeInfo struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block

	// quantize and dequantize convert a whole number of blocks: ggml's
	// reference quantizer (quantize_row_*_ref) and dequantize_row_*.
	quantize   func(x []float32, b []byte)
	dequantize func(b []byte, y []float32)

	// vecDot is the type an activation is converted to before a dot
	// product with a row of this type; meaningful where dot is not nil.
	vecDot Type
	// dot is the pure-Go row kernel, the reference the others are tested
	// against; nil when chatloop multiplies no matrix of this type.
	dot rowDot
	// dotAVX2 is the AVX2 row kernel.
	dotAVX2 rowDot
	// mat is the tiled matrix kernel (AVX2 and AVX-512 VNNI forms).
	mat matKernel
	// pack is the packed layout and its kernel (AVX-512 VNNI); pack256
	// the packed layout and its 256-bit kernels (AVX-VNNI and AVX2).
	pack, pack256 *packing
}

var typeInfos = map[Type]*typeInfo{
	F32: {name: "F32", blockSize: 1, typeSize: 4, quantize: quantF32, dequantize: dequantF32,
		vecDot: F32, dot: dotF32Row},
	F16: {name: "F16", blockSize: 1, typeSize: 2, quantize: quantF16, dequantize: dequantF16,
		vecDot: F16, dot: dotF16Row},
	BF16: {name: "BF16", blockSize: 1, typeSize: 2, quantize: quantBF16, dequantize: dequantBF16,
		vecDot: BF16, dot: dotBF16Row},
	Q4_0: {name: "Q4_0", blockSize: 32, typeSize: 2 + 16, quantize: blocks(quantQ4_0, 32, 18), dequantize: deblocks(dequantQ4_0, 32, 18),
		vecDot: Q8_0, dot: dotQ4_0, dotAVX2: dotQ4_0AVX2, mat: matQ4_0, pack: packedQ4_0, pack256: packed256Q4_0},
	Q4_1: {name: "Q4_1", blockSize: 32, typeSize: 2 + 2 + 16, quantize: blocks(quantQ4_1, 32, 20), dequantize: deblocks(dequantQ4_1, 32, 20),
		vecDot: Q8_1, dot: dotQ4_1, dotAVX2: dotQ4_1AVX2},
	Q5_0: {name: "Q5_0", blockSize: 32, typeSize: 2 + 4 + 16, quantize: blocks(quantQ5_0, 32, 22), dequantize: deblocks(dequantQ5_0, 32, 22),
		vecDot: Q8_0, dot: dotQ5_0, dotAVX2: dotQ5_0AVX2, mat: matQ5_0, pack: packedQ5_0, pack256: packed256Q5_0},
	Q5_1: {name: "Q5_1", blockSize: 32, typeSize: 2 + 2 + 4 + 16, quantize: blocks(quantQ5_1, 32, 24), dequantize: deblocks(dequantQ5_1, 32, 24),
		vecDot: Q8_1, dot: dotQ5_1, dotAVX2: dotQ5_1AVX2},
	Q8_0: {name: "Q8_0", blockSize: 32, typeSize: 2 + 32, quantize: blocks(quantQ8_0Ref, 32, 34), dequantize: deblocks(dequantQ8_0, 32, 34),
		vecDot: Q8_0, dot: dotQ8_0, dotAVX2: dotQ8_0AVX2, mat: matQ8_0, pack: packedQ8_0, pack256: packed256Q8_0},
	Q8_1: {name: "Q8_1", blockSize: 32, typeSize: 2 + 2 + 32, quantize: blocks(quantQ8_1Ref, 32, 36), dequantize: deblocks(dequantQ8_1, 32, 36)},
	Q2_K: {name: "Q2_K", blockSize: QK_K, typeSize: QK_K/16 + QK_K/4 + 2 + 2,
		quantize: blocks(quantQ2_K, QK_K, 84), dequantize: deblocks(dequantQ2_K, QK_K, 84)},
	Q3_K: {name: "Q3_K", blockSize: QK_K, typeSize: QK_K/8 + QK_K/4 + 12 + 2,
		quantize: blocks(quantQ3_K, QK_K, 110), dequantize: deblocks(dequantQ3_K, QK_K, 110)},
	Q4_K: {name: "Q4_K", blockSize: QK_K, typeSize: 2 + 2 + 12 + QK_K/2,
		quantize: blocks(quantQ4_K, QK_K, 144), dequantize: deblocks(dequantQ4_K, QK_K, 144),
		vecDot: Q8_K, dot: dotQ4_K, dotAVX2: dotQ4_KAVX2, mat: matQ4K, pack: packedQ4K},
	Q5_K: {name: "Q5_K", blockSize: QK_K, typeSize: 2 + 2 + 12 + QK_K/8 + QK_K/2,
		quantize: blocks(quantQ5_K, QK_K, 176), dequantize: deblocks(dequantQ5_K, QK_K, 176),
		vecDot: Q8_K, dot: dotQ5_K, dotAVX2: dotQ5_KAVX2, mat: matQ5K, pack: packedQ5K},
	Q6_K: {name: "Q6_K", blockSize: QK_K, typeSize: QK_K/2 + QK_K/4 + QK_K/16 + 2,
		quantize: blocks(quantQ6_K, QK_K, 210), dequantize: deblocks(dequantQ6_K, QK_K, 210),
		vecDot: Q8_K, dot: dotQ6_K, dotAVX2: dotQ6_KAVX2, mat: matQ6K, pack: packedQ6K},
	Q8_K: {name: "Q8_K", blockSize: QK_K, typeSize: 4 + QK_K + QK_K/16*2,
		quantize: blocks(quantQ8_KRef, QK_K, 292), dequantize: deblocks(dequantQ8_K, QK_K, 292)},
}

// blocks turns a one-block quantizer into one of whole rows.
func blocks(fn func(x []float32, b []byte), bs, ts int) func(x []float32, b []byte) {
	return func(x []float32, b []byte) {
		for i := 0; i < len(x)/bs; i++ {
			fn(x[i*bs:(i+1)*bs], b[i*ts:(i+1)*ts])
		}
	}
}

// deblocks turns a one-block dequantizer into one of whole rows.
func deblocks(fn func(b []byte, y []float32), bs, ts int) func(b []byte, y []float32) {
	return func(b []byte, y []float32) {
		for i := 0; i < len(y)/bs; i++ {
			fn(b[i*ts:(i+1)*ts], y[i*bs:(i+1)*bs])
		}
	}
}

// Types lists the types chatloop knows (reads, writes, quantizes and
// dequantizes), in ggml's numbering, from the per-type records.
func Types() []Type { return typesWhere(func(*typeInfo) bool { return true }) }

// MatMulTypes lists the weight types the kernels multiply (those with a
// row kernel; see VecDotType), in ggml's numbering, from the per-type
// records.
func MatMulTypes() []Type { return typesWhere(func(i *typeInfo) bool { return i.dot != nil }) }

func typesWhere(keep func(*typeInfo) bool) []Type {
	var ts []Type
	for t := Type(0); t < typeSlots; t++ {
		if i, ok := typeInfos[t]; ok && keep(i) {
			ts = append(ts, t)
		}
	}
	return ts
}

// Known reports whether chatloop knows t's layout.
func (t Type) Known() bool { _, ok := typeInfos[t]; return ok }

// String is ggml's name of the type ("Q8_0"), or "type(N)".
func (t Type) String() string {
	if tr, ok := typeInfos[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block (1 for float types; 0
// for an unknown type).
func (t Type) BlockSize() int {
	if tr, ok := typeInfos[t]; ok {
		return tr.blockSize
	}
	return 0
}

// TypeSize is the number of bytes of one block (0 for an unknown type).
func (t Type) TypeSize() int {
	if tr, ok := typeInfos[t]; ok {
		return tr.typeSize
	}
	return 0
}

// RowSize is the number of bytes of n elements, or an error when n is not
// a whole number of blocks or t is unknown.
func (t Type) RowSize(n int64) (int64, error) {
	tr, ok := typeInfos[t]
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
	for t, tr := range typeInfos {
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
