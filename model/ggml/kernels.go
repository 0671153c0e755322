package ggml

import (
	"fmt"
	"strings"
	"sync"
)

// features are the CPU's instruction-set extensions the kernels use.
type features struct {
	avx, avx2, f16c             bool
	avx512f, avx512bw, avx512vl bool
	vnni, vbmi                  bool
	avxVNNI                     bool // VEX-encoded VPDPBUSD on 256-bit registers
	asimd, dotprod, i8mm        bool // arm64: NEON, SDOT, SMMLA
}

// level is a rung of the kernel ladder: the pure-Go reference, AVX2, or
// AVX-512 with VNNI (F, BW, VL and VNNI; the packed K-quant layouts also
// need VBMI); on arm64, NEON with the dot-product instructions, or with
// them and the int8 matrix multiply.
type level int

const (
	levelGo level = iota
	levelAVX2
	levelVNNI
	levelNEONDot
	levelNEONI8MM
)

func (l level) String() string {
	switch l {
	case levelAVX2:
		return "avx2"
	case levelVNNI:
		return "avx512-vnni"
	case levelNEONDot:
		return "neon-dotprod"
	case levelNEONI8MM:
		return "neon-i8mm"
	}
	return "go"
}

// matLevel is the highest matrix-kernel level f runs.
func (f features) matLevel() level {
	switch {
	case f.avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.vnni:
		return levelVNNI
	case f.avx2:
		return levelAVX2
	case f.dotprod && f.i8mm:
		return levelNEONI8MM
	case f.dotprod:
		return levelNEONDot
	}
	return levelGo
}

// runs reports whether f runs the kernels of level lv.
func (f features) runs(lv level) bool {
	switch lv {
	case levelGo:
		return true
	case levelAVX2, levelVNNI:
		return lv <= f.matLevel() && f.matLevel() <= levelVNNI
	case levelNEONDot:
		return f.dotprod
	case levelNEONI8MM:
		return f.dotprod && f.i8mm
	}
	return false
}

// Kernels is a set of kernel paths: which of the pure-Go, AVX2 and AVX-512
// VNNI row and matrix kernels a Pool runs for each weight type, and which
// types have a packed layout (with 512-bit kernels in the AVX-512 VNNI
// set, 256-bit AVX-VNNI or AVX2 ones in the "avx-vnni packed" and "avx2
// packed" sets, for CPUs without AVX-512). A set is picked once (BestKernels, by the
// CPU's features) and held by the pool that uses it; tests and benchmarks
// build pools with the sets they compare (KernelSets). Every set gives the
// same results bit for bit; they differ in speed. A set is read-only and
// safe for concurrent use.
type Kernels struct {
	name   string
	level  level // row and matrix kernels
	mat    bool  // the tiled matrix kernels (else row kernels one row at a time)
	packed bool  // the packed layouts
	// avxVNNI: the 256-bit packed kernels use AVX-VNNI (in a packed set
	// of level AVX2).
	avxVNNI bool

	// Tuning of the 32-element block kernels, moved by tests to reach
	// every kernel: the largest batch of the row-tile kernel (bigger ones
	// take the activation-lane kernel), whether the VNNI row tiles decode
	// Q4_0 and Q5_0 in registers, and how far ahead the packed kernels
	// prefetch (bytes; 0: off).
	m32RowsMaxActs int
	m32RowsDirect  bool
	pk32Prefetch   int
	// pk32Q8Nibbles: the AVX2 packed Q8_0 kernel for any quants (levels
	// split into nibbles) on every batch, not only on those holding a
	// -128 activation quant, which the sign-trick kernel cannot take.
	pk32Q8Nibbles bool
	// kRowsMaxActs: the largest batch the K-quant row-pair kernels take
	// (weights decoded in registers for every activation); bigger ones
	// take the tiles of unpacked weights (kRowsMax, kRowsMaxAVX2).
	kRowsMaxActs int

	byType [typeSlots]typeKernels

	// attn and q8 are the forms of the attention kernels (ScoresF16,
	// AccumulateF16) and of the Q8_0 activation quantizer the set runs.
	attn, q8 vecLevel
}

// The largest batches that take the K-quant row-pair kernels (weights
// decoded in registers for every activation) rather than the tiles of
// unpacked weight records shared by the activations, measured on
// 896×4864 and 4864×1024: with AVX-512 VNNI two and three activations are
// faster through the tiles; with AVX2 two activations are faster through
// the row pairs (Q4_K 1.15–1.3×, Q6_K 1–1.1× in cache, and the matrix is
// streamed once rather than twice), three to four through the tiles.
const (
	kRowsMax     = 1
	kRowsMaxAVX2 = 2
)

// typeKernels are one weight type's kernels in a set.
type typeKernels struct {
	dot  rowDot    // nil: the type has no kernels
	mat  matKernel // nil: dot row by row
	pack *packing  // nil: no packed layout in this set
}

// typeSlots bounds the Type values Kernels.byType is indexed by.
const typeSlots = 64

// newKernels builds the set of the given level with or without the
// matrix kernels and packed layouts (the 256-bit ones with AVX-VNNI or
// without, at level AVX2), or returns nil where this CPU does not run it.
func newKernels(lv level, mat, packed, avxVNNI bool) *Kernels {
	if !cpuFeatures.runs(lv) || packed && (lv == levelGo || !mat) || mat && lv == levelGo ||
		avxVNNI && (lv != levelAVX2 || !packed || !cpuFeatures.avxVNNI) {
		return nil
	}
	k := &Kernels{level: lv, mat: mat, packed: packed, avxVNNI: avxVNNI, m32RowsMaxActs: 4, m32RowsDirect: true, pk32Prefetch: 16384, kRowsMaxActs: kRowsMax}
	k.name = lv.String()
	if lv == levelAVX2 {
		k.kRowsMaxActs = kRowsMaxAVX2
	}
	switch {
	case avxVNNI:
		k.name = "avx-vnni packed"
	case packed:
		k.name += " packed"
	case !mat && (lv == levelAVX2 || lv == levelVNNI):
		k.name += " rows"
	}
	k.attn, k.q8 = vecGo, vecGo
	if lv >= levelAVX2 {
		k.attn, k.q8 = cpuFeatures.attnLevel(), cpuFeatures.q8Level()
	}
	if lv < levelVNNI { // the AVX2 sets run no AVX-512 at all
		k.attn, k.q8 = min(k.attn, vecAVX2), min(k.q8, vecAVX2)
	}
	k.resolve()
	return k
}

// resolve picks each type's kernels from its record.
func (k *Kernels) resolve() {
	for t, info := range typeInfos {
		e := &k.byType[t]
		*e = typeKernels{dot: info.dot}
		if info.dot == nil {
			continue
		}
		if k.level >= levelAVX2 && info.dotAVX2 != nil {
			e.dot = info.dotAVX2
		}
		if k.mat && info.mat != nil {
			e.mat = info.mat
		}
		if dot, mat := neonKernels(t, k.level); dot != nil {
			e.dot = dot
			if k.mat {
				e.mat = mat
			}
		}
		switch p := info.pack; {
		case !k.packed:
		case k.level == levelVNNI && p != nil && (!p.vbmi || cpuFeatures.vbmi):
			e.pack = p
		case k.level == levelAVX2 && info.pack256 != nil:
			e.pack = info.pack256
		}
	}
}

// with returns a copy of k changed by fn (tests reach tuned paths so).
func (k *Kernels) with(fn func(*Kernels)) *Kernels {
	c := *k
	fn(&c)
	return &c
}

// Name says which kernels the set runs: "avx512-vnni packed",
// "avx512-vnni", "avx-vnni packed", "avx2 packed", "avx2", "avx2 rows"
// (row kernels only), "neon-i8mm" (arm64: SMMLA matrix kernels, SDOT row
// kernels), "neon-dotprod" (SDOT row kernels) or "go".
func (k *Kernels) Name() string { return k.name }

// String is Name.
func (k *Kernels) String() string { return k.name }

// kernelsFor returns t's kernels in k.
func (k *Kernels) kernelsFor(t Type) *typeKernels {
	if uint(t) >= typeSlots {
		return &typeKernels{}
	}
	return &k.byType[t]
}

var kernelSets = sync.OnceValue(func() []*Kernels {
	var sets []*Kernels
	for _, c := range []struct {
		lv                   level
		mat, packed, avxVNNI bool
	}{
		{levelVNNI, true, true, false}, {levelVNNI, true, false, false},
		{levelAVX2, true, true, true}, {levelAVX2, true, true, false}, {levelAVX2, true, false, false}, {levelAVX2, false, false, false},
		{levelNEONI8MM, true, false, false}, {levelNEONDot, false, false, false},
		{levelGo, false, false, false},
	} {
		if k := newKernels(c.lv, c.mat, c.packed, c.avxVNNI); k != nil {
			sets = append(sets, k)
		}
	}
	return sets
})

// KernelSets lists the kernel sets this CPU runs, fastest first; the last
// is the pure-Go one ("go"), which runs everywhere.
func KernelSets() []*Kernels { return kernelSets() }

// BestKernels is the fastest set this CPU runs, the one NewPool uses.
func BestKernels() *Kernels { return kernelSets()[0] }

// KernelsByName returns the set called name (see Kernels.Name), or an
// error listing the sets this CPU runs.
func KernelsByName(name string) (*Kernels, error) {
	var names []string
	for _, k := range kernelSets() {
		if k.name == name {
			return k, nil
		}
		names = append(names, fmt.Sprintf("%q", k.name))
	}
	return nil, fmt.Errorf("%w: kernel set %q: this CPU runs %s", ErrUnsupported, name, strings.Join(names, ", "))
}

// KernelPaths says which kernels this CPU gets, for --version and
// benchmarks: the matrix kernels (BestKernels' name), the attention
// kernels and the activation quantizer.
func KernelPaths() []string {
	k := BestKernels()
	return []string{"matmul " + k.Name(), "attention " + k.attn.String(), "quantize " + k.q8.String()}
}

// VectorBits is the width of the vector registers the set's element-wise
// kernels use: 512 (AVX-512), 256 (AVX2) or 0 (pure Go). Packages with
// element-wise kernels of their own (model/arch's swiglu and softmax
// exponentials) pick their form by it, so that one set decides them all.
func (k *Kernels) VectorBits() int {
	switch k.attn {
	case vecAVX512:
		return 512
	case vecAVX2:
		return 256
	}
	return 0
}

// vecLevel is the instruction set of the attention kernels and the Q8_0
// activation quantizer: pure Go, AVX2 (with F16C), or AVX-512 for the
// bulk of the work; on arm64, NEON (the quantizer only).
type vecLevel int

const (
	vecGo vecLevel = iota
	vecAVX2
	vecAVX512
	vecNEON
)

func (l vecLevel) String() string {
	switch l {
	case vecAVX2:
		return "avx2"
	case vecAVX512:
		return "avx512"
	case vecNEON:
		return "neon"
	}
	return "go"
}

func (f features) attnLevel() vecLevel {
	switch {
	case f.avx2 && f.f16c && f.avx512f:
		return vecAVX512
	case f.avx2 && f.f16c:
		return vecAVX2
	}
	return vecGo
}

func (f features) q8Level() vecLevel {
	switch {
	case f.avx512f && f.avx && f.f16c:
		return vecAVX512
	case f.avx2 && f.f16c:
		return vecAVX2
	case f.asimd:
		return vecNEON
	}
	return vecGo
}
