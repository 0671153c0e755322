package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
)

// VecDotType is the type ggml's CPU backend converts an activation vector to
// before multiplying it with a weight of type t (type_traits_cpu[t].
// vec_dot_type), or false when chatloop has no kernel for t.
func VecDotType(t Type) (Type, bool) {
	if tr, ok := typeInfos[t]; ok && tr.dot != nil {
		return tr.vecDot, true
	}
	return 0, false
}

// Rounding selects which of ggml's activation quantizers Prepare mimics for
// Q8_0 and Q8_1 activations. They differ only in rare last-bit cases (a
// value landing on a rounding tie or next to one), but those decide whether
// we reproduce a given llama.cpp build bit for bit.
type Rounding int

const (
	// RoundAVX is ggml's x86 AVX/AVX2/AVX-512 quantize_row_q8_0/q8_1, the
	// code every current x86-64 llama.cpp CPU build runs: inverse scale
	// 127/amax, ties to even.
	RoundAVX Rounding = iota
	// RoundRef is ggml's reference quantize_row_q8_0_ref/q8_1_ref (what
	// scalar builds without AVX run): inverse scale 1/(amax/127), ties away
	// from zero.
	RoundRef
)

// Activation is an input vector converted to the vec_dot type of a weight
// type, ready for MatVecPrepared and Pool.MatVec. Prepare it once and use it
// for every weight that reads the same input and shares its vec_dot type
// (the q, k and v projections, the gate and up projections). Its buffers are
// reused, so steady-state Prepare calls do not allocate.
type Activation struct {
	// Rounding chooses the Q8_0/Q8_1 quantizer; the zero value is RoundAVX.
	Rounding Rounding

	typ Type // the vec_dot type prepared
	n   int  // elements
	err error

	f32   []float32 // F32
	h     []uint16  // F16 or BF16 bits
	d     []float32 // Q8_*: block scale (as the kernel reads it)
	s     []float32 // Q8_1: d*sum(qs), rounded through F16
	nsq   []int32   // Q8_0: minus the sum of each block's quants (for the packed kernels)
	qs    []int8    // Q8_*: quants
	bsums []int16   // Q8_K: sums of 16 quants
}

// Type is the vec_dot type the activation holds.
func (a *Activation) Type() Type { return a.typ }

// Len is the number of elements prepared.
func (a *Activation) Len() int { return a.n }

// Err reports why the last Prepare failed, or nil.
func (a *Activation) Err() error { return a.err }

// Prepare converts x into the vec_dot type of weight type w exactly as
// ggml's CPU backend does (type_traits_cpu[vec_dot_type].from_float). If w
// has no kernel or len(x) is not a whole number of blocks, the activation
// records the error, and MatVecPrepared/Pool.MatVec return it. It runs
// BestKernels' quantizer; see Kernels.Prepare.
func (a *Activation) Prepare(x []float32, w Type) { a.prepare(x, w, BestKernels().q8) }

// Prepare is a.Prepare(x, w) with the set's Q8_0 activation quantizer
// (every form gives the same bytes; they differ in speed).
func (k *Kernels) Prepare(a *Activation, x []float32, w Type) { a.prepare(x, w, k.q8) }

// prepare is Prepare with the Q8_0 reference quantizer of level lv.
func (a *Activation) prepare(x []float32, w Type, lv vecLevel) {
	a.err = nil
	vt, ok := VecDotType(w)
	if !ok {
		a.typ, a.n = 0, 0
		a.err = fmt.Errorf("%w: no matrix-vector kernel for %s", ErrUnsupported, w)
		return
	}
	if bs := vt.BlockSize(); len(x)%bs != 0 {
		a.typ, a.n = 0, 0
		a.err = fmt.Errorf("%w: %d activations are not a whole number of %s blocks of %d", ErrSize, len(x), vt, bs)
		return
	}
	a.typ, a.n = vt, len(x)
	n := len(x)
	switch vt {
	case F32:
		a.f32 = grow(a.f32, n)
		copy(a.f32, x)
	case F16:
		a.h = grow(a.h, n)
		for i, v := range x {
			a.h[i] = FP32ToFP16(v)
		}
	case BF16:
		a.h = grow(a.h, n)
		for i, v := range x {
			a.h[i] = FP32ToBF16(v)
		}
	case Q8_0, Q8_1:
		nb := n / 32
		a.d = grow(a.d, nb)
		a.qs = grow(a.qs, n)
		if vt == Q8_1 {
			a.s = grow(a.s, nb)
		} else {
			a.nsq = grow(a.nsq, nb)
		}
		if vt == Q8_0 && a.Rounding == RoundRef {
			if !quantizeQ8_0RefAsm(lv, x, a.qs, a.d, a.nsq) {
				quantizeQ8_0Ref(x, a.qs, a.d, a.nsq)
			}
			return
		}
		for i := 0; i < nb; i++ {
			d, sum := quantizeQ8Block(x[32*i:32*i+32], a.qs[32*i:32*i+32], a.Rounding)
			dh := FP32ToFP16(d)
			a.d[i] = FP16ToFP32(dh)
			if vt == Q8_1 {
				a.s[i] = FP16ToFP32(FP32ToFP16(float32(sum) * d))
			} else {
				a.nsq[i] = -sum
			}
		}
	case Q8_K:
		nb := n / QK_K
		a.d = grow(a.d, nb)
		a.qs = grow(a.qs, n)
		a.bsums = grow(a.bsums, n/16)
		for i := 0; i < nb; i++ {
			a.d[i] = quantizeQ8KBlock(x[QK_K*i:QK_K*(i+1)], a.qs[QK_K*i:QK_K*(i+1)], a.bsums[16*i:16*(i+1)])
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// quantizeQ8_0Ref is ggml's quantize_row_q8_0_ref over whole blocks of x:
// quants into qs, each block's scale rounded through F16 into d, and minus
// the sum of each block's quants into nsq. quantizeQ8_0RefAsm must match it
// bit for bit.
func quantizeQ8_0Ref(x []float32, qs []int8, d []float32, nsq []int32) {
	for i := 0; i < len(x)/32; i++ {
		di, sum := quantizeQ8Block(x[32*i:32*i+32], qs[32*i:32*i+32], RoundRef)
		d[i] = FP16ToFP32(FP32ToFP16(di))
		nsq[i] = -sum
	}
}

// quantizeQ8Block quantizes 32 values to int8 with one scale; it returns
// the float32 scale (before F16 rounding) and the sum of the quants.
func quantizeQ8Block(x []float32, q []int8, r Rounding) (d float32, sum int32) {
	var amax float32
	for _, v := range x[:32] {
		if a := abs32(v); a > amax {
			amax = a
		}
	}
	d = amax / 127
	if r == RoundRef {
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for j := 0; j < 32; j++ {
			v := int8(int32(roundAway(x[j] * id)))
			q[j] = v
			sum += int32(v)
		}
		return d, sum
	}
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	for j := 0; j < 32; j++ {
		v := satInt8(float32(math.RoundToEven(float64(x[j] * id))))
		q[j] = v
		sum += int32(v)
	}
	return d, sum
}

// satInt8 converts an integral float like cvtps_epi32 followed by the
// saturating packs: NaN and out-of-range values saturate.
func satInt8(f float32) int8 {
	switch {
	case f != f, f <= -128:
		return -128
	case f >= 127:
		return 127
	}
	return int8(f)
}

// quantizeQ8KBlock is ggml's quantize_row_q8_K_ref for one super-block
// (x86 builds use the reference too); it returns the float32 scale.
func quantizeQ8KBlock(x []float32, q []int8, bsums []int16) float32 {
	max, amax := absMaxSigned(x[:QK_K])
	if amax == 0 {
		clear(q[:QK_K])
		clear(bsums[:16])
		return 0
	}
	iscale := -127 / max
	for j := 0; j < QK_K; j++ {
		q[j] = int8(min(127, nearestInt(iscale*x[j])))
	}
	for j := 0; j < 16; j++ {
		var sum int32
		for _, v := range q[16*j : 16*j+16] {
			sum += int32(v)
		}
		bsums[j] = int16(sum)
	}
	return 1 / iscale
}

// Bytes returns the activation in ggml's memory layout of its type (the
// bytes from_float writes), for comparison with ggml itself.
func (a *Activation) Bytes() []byte {
	vt := a.typ
	if a.err != nil || a.n == 0 {
		return nil
	}
	size, _ := vt.RowSize(int64(a.n))
	b := make([]byte, size)
	le := binary.LittleEndian
	switch vt {
	case F32:
		for i, v := range a.f32[:a.n] {
			le.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case F16, BF16:
		for i, v := range a.h[:a.n] {
			le.PutUint16(b[2*i:], v)
		}
	case Q8_0:
		for i := 0; i < a.n/32; i++ {
			o := b[34*i:]
			le.PutUint16(o, FP32ToFP16(a.d[i]))
			for j := 0; j < 32; j++ {
				o[2+j] = byte(a.qs[32*i+j])
			}
		}
	case Q8_1:
		for i := 0; i < a.n/32; i++ {
			o := b[36*i:]
			le.PutUint16(o, FP32ToFP16(a.d[i]))
			le.PutUint16(o[2:], FP32ToFP16(a.s[i]))
			for j := 0; j < 32; j++ {
				o[4+j] = byte(a.qs[32*i+j])
			}
		}
	case Q8_K:
		for i := 0; i < a.n/QK_K; i++ {
			o := b[292*i:]
			le.PutUint32(o, math.Float32bits(a.d[i]))
			for j := 0; j < QK_K; j++ {
				o[4+j] = byte(a.qs[QK_K*i+j])
			}
			for j := 0; j < 16; j++ {
				le.PutUint16(o[4+QK_K+2*j:], uint16(a.bsums[16*i+j]))
			}
		}
	}
	return b
}
