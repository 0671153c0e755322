//go:build !noasm && amd64

#include "textflag.h"

// quantQ8RefAVX512 is quantizeQ8_0Ref (ggml's quantize_row_q8_0_ref) for
// nb blocks of 32 floats, bit for bit:
//   amax = max |x| over the block, NaN lanes skipped, starting from 0
//   d    = amax/127 (stored rounded through F16), id = d != 0 ? 1/d : 0
//   q    = int8(int32(roundAway(x*id))), nsq = -sum(q)
// roundAway: t = trunc(v); if |v-t| >= 0.5 then t += copysign(1, v). v-t
// is exact for finite v; for ±Inf and NaN the comparison is false and
// VCVTTPS2DQ gives 0x80000000, whose low byte (the int8) is 0, as Go's
// CVTTSS2SL does.
//
// Registers: Z15 = 0x7fffffff (abs mask), Z14 = 0, Z13 = 0.5, Z12 = 1.0,
// X11 = 127.0.

// func quantQ8RefAVX512(x *float32, nb int, qs *int8, d *float32, nsq *int32)
TEXT ·quantQ8RefAVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ qs+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ nsq+32(FP), R8
	TESTQ CX, CX
	JLE  done

	VPXORD Z14, Z14, Z14
	VPTERNLOGD $0xff, Z15, Z15, Z15
	VPSRLD $1, Z15, Z15
	MOVL $0x3f000000, AX
	VPBROADCASTD AX, Z13
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Z12
	MOVL $0x42fe0000, AX
	VMOVD AX, X11

loop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1

	// amax. VMAXPS returns its first Go operand when either is NaN.
	VANDPS Z15, Z0, Z2
	VANDPS Z15, Z1, Z3
	VMAXPS Z14, Z2, Z2 // max(|x0|, 0), 0 for NaN lanes
	VMAXPS Z2, Z3, Z2  // max(|x1|, that), that for NaN lanes
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXPS X3, X2, X2

	// d = amax/127; id = d != 0 ? 1/d : 0
	VDIVSS X11, X2, X2
	VDIVSS X2, X12, X4
	VCMPSS $4, X14, X2, X5 // d != 0
	VANDPS X5, X4, X4
	VBROADCASTSS X4, Z4

	// the scale as the kernels read it: rounded through F16
	VCVTPS2PH $0, X2, X5
	VCVTPH2PS X5, X5
	VMOVSS X5, (DX)

	// v = x*id; t = trunc(v)
	VMULPS Z4, Z0, Z0
	VMULPS Z4, Z1, Z1
	VRNDSCALEPS $11, Z0, Z6
	VRNDSCALEPS $11, Z1, Z7
	// |v - t| >= 0.5 ?
	VSUBPS Z6, Z0, Z8
	VSUBPS Z7, Z1, Z9
	VANDPS Z15, Z8, Z8
	VANDPS Z15, Z9, Z9
	VCMPPS $13, Z13, Z8, K1
	VCMPPS $13, Z13, Z9, K2
	// t += copysign(1, v) where it is
	VANDNPS Z0, Z15, Z10
	VANDNPS Z1, Z15, Z16
	VORPS Z12, Z10, Z10
	VORPS Z12, Z16, Z16
	VADDPS Z10, Z6, K1, Z6
	VADDPS Z16, Z7, K2, Z7

	// int8(int32(t))
	VCVTTPS2DQ Z6, Z6
	VCVTTPS2DQ Z7, Z7
	VPSLLD $24, Z6, Z6
	VPSLLD $24, Z7, Z7
	VPSRAD $24, Z6, Z6
	VPSRAD $24, Z7, Z7
	VPMOVDB Z6, (DI)
	VPMOVDB Z7, 16(DI)

	// nsq = -sum(q)
	VPADDD Z7, Z6, Z6
	VEXTRACTI64X4 $1, Z6, Y7
	VPADDD Y7, Y6, Y6
	VEXTRACTI128 $1, Y6, X7
	VPADDD X7, X6, X6
	VPSHUFD $0x4e, X6, X7
	VPADDD X7, X6, X6
	VPSHUFD $0xb1, X6, X7
	VPADDD X7, X6, X6
	VPSUBD X6, X14, X6
	VMOVD X6, (R8)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JNZ  loop

	VZEROUPPER

done:
	RET
