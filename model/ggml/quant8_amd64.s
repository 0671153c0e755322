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

// permQ8AVX2 puts the dwords VPACKSSDW+VPACKSSWB leave in lane order
// (a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7) back in element order.
DATA permQ8AVX2<>+0(SB)/4, $0
DATA permQ8AVX2<>+4(SB)/4, $4
DATA permQ8AVX2<>+8(SB)/4, $1
DATA permQ8AVX2<>+12(SB)/4, $5
DATA permQ8AVX2<>+16(SB)/4, $2
DATA permQ8AVX2<>+20(SB)/4, $6
DATA permQ8AVX2<>+24(SB)/4, $3
DATA permQ8AVX2<>+28(SB)/4, $7
GLOBL permQ8AVX2<>(SB), RODATA|NOPTR, $32

// ROUND_AWAY_AVX2(Yv, Yt, Yr) rounds the eight floats of Yv half away
// from zero into int32 lanes of Yt, sign-extended from their low byte
// (the int8 Go keeps); Yr is scratch.
#define ROUND_AWAY_AVX2(Yv, Yt, Yr) \
	VMULPS Y4, Yv, Yv \
	VROUNDPS $11, Yv, Yt \
	VSUBPS Yt, Yv, Yr \
	VANDPS Y15, Yr, Yr \
	VCMPPS $13, Y13, Yr, Yr \
	VANDNPS Yv, Y15, Yv \
	VORPS Y12, Yv, Yv \
	VANDPS Yr, Yv, Yv \
	VADDPS Yv, Yt, Yt \
	VCVTTPS2DQ Yt, Yt \
	VPSLLD $24, Yt, Yt \
	VPSRAD $24, Yt, Yt

// quantQ8RefAVX2 is quantQ8RefAVX512 for AVX2 (with F16C): the same
// operations on eight lanes. Masked adds become an AND with the compare
// mask (adding +0 elsewhere changes at most the sign of a zero, which the
// integer conversion drops), and the truncation to int8 is sign extension
// followed by the saturating packs, which then cannot saturate.
//
// Registers: Y15 = 0x7fffffff, Y14 = 0, Y13 = 0.5, Y12 = 1.0, X11 = 127.0,
// Y10 = permQ8AVX2.

// func quantQ8RefAVX2(x *float32, nb int, qs *int8, d *float32, nsq *int32)
TEXT ·quantQ8RefAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ qs+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ nsq+32(FP), R8
	TESTQ CX, CX
	JLE  done2

	VPXOR Y14, Y14, Y14
	VPCMPEQD Y15, Y15, Y15
	VPSRLD $1, Y15, Y15
	MOVL $0x3f000000, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x3f800000, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	MOVL $0x42fe0000, AX
	VMOVD AX, X11
	VMOVDQU permQ8AVX2<>(SB), Y10

loop2:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3

	// amax. VMAXPS returns its first Go operand when either is NaN.
	VANDPS Y15, Y0, Y5
	VMAXPS Y14, Y5, Y5
	VANDPS Y15, Y1, Y6
	VMAXPS Y5, Y6, Y5
	VANDPS Y15, Y2, Y6
	VMAXPS Y5, Y6, Y5
	VANDPS Y15, Y3, Y6
	VMAXPS Y5, Y6, Y5
	VEXTRACTF128 $1, Y5, X6
	VMAXPS X6, X5, X5
	VPERMILPS $0x4e, X5, X6
	VMAXPS X6, X5, X5
	VPERMILPS $0xb1, X5, X6
	VMAXPS X6, X5, X5

	// d = amax/127; id = d != 0 ? 1/d : 0
	VDIVSS X11, X5, X5
	VDIVSS X5, X12, X4
	VCMPSS $4, X14, X5, X6
	VANDPS X6, X4, X4
	VBROADCASTSS X4, Y4

	VCVTPS2PH $0, X5, X6
	VCVTPH2PS X6, X6
	VMOVSS X6, (DX)

	ROUND_AWAY_AVX2(Y0, Y5, Y9)
	ROUND_AWAY_AVX2(Y1, Y6, Y9)
	ROUND_AWAY_AVX2(Y2, Y7, Y9)
	ROUND_AWAY_AVX2(Y3, Y8, Y9)

	// quants
	VPACKSSDW Y6, Y5, Y0
	VPACKSSDW Y8, Y7, Y1
	VPACKSSWB Y1, Y0, Y0
	VPERMD Y0, Y10, Y0
	VMOVDQU Y0, (DI)

	// nsq = -sum(q)
	VPADDD Y6, Y5, Y5
	VPADDD Y8, Y7, Y7
	VPADDD Y7, Y5, Y5
	VEXTRACTI128 $1, Y5, X6
	VPADDD X6, X5, X5
	VPSHUFD $0x4e, X5, X6
	VPADDD X6, X5, X5
	VPSHUFD $0xb1, X5, X6
	VPADDD X6, X5, X5
	VPSUBD X5, X14, X5
	VMOVD X5, (R8)

	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JNZ  loop2

	VZEROUPPER

done2:
	RET
