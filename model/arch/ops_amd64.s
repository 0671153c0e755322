//go:build !noasm

#include "textflag.h"

// ggml_v_expf in 16 AVX-512 lanes, op for op as expf in ops.go computes
// it (no FMA: every product and sum rounded on its own, in the operand
// order of ggml's SSE2 code). Constants live in Z17..Z31 (EXPF_CONSTS),
// Z15 is zero; the argument is in Z0 and the result lands there; Z1..Z8
// are clobbered. EXPF_CORE leaves the normal result (j*k+k) in Z0, n in
// Z2, e in Z1, j in Z6, |n| in Z7 and the lanes with |n| > 126 in K2;
// EXPF_SPECIAL blends in the results of those lanes (ggml's s1/s2 path
// and, above |n| > 192, s1*s1).

#define EXPF_CONSTS \
	/* r = 0x1.8p23 */ \
	MOVL $0x4b400000, AX; VPBROADCASTD AX, Z31; \
	/* 0x1.715476p+0 */ \
	MOVL $0x3fb8aa3b, AX; VPBROADCASTD AX, Z30; \
	/* 0x1.62e4p-1 */ \
	MOVL $0x3f317200, AX; VPBROADCASTD AX, Z29; \
	/* 0x1.7f7d1cp-20 */ \
	MOVL $0x35bfbe8e, AX; VPBROADCASTD AX, Z28; \
	/* 1 */ \
	MOVL $0x3f800000, AX; VPBROADCASTD AX, Z27; \
	/* 0x1.0e4020p-7 */ \
	MOVL $0x3c072010, AX; VPBROADCASTD AX, Z26; \
	/* 0x1.573e2ep-5 */ \
	MOVL $0x3d2b9f17, AX; VPBROADCASTD AX, Z25; \
	/* 0x1.555e66p-3 */ \
	MOVL $0x3e2aaf33, AX; VPBROADCASTD AX, Z24; \
	/* 0x1.fffdb6p-2 */ \
	MOVL $0x3efffedb, AX; VPBROADCASTD AX, Z23; \
	/* 0x1.ffffecp-1 */ \
	MOVL $0x3f7ffff6, AX; VPBROADCASTD AX, Z22; \
	/* 126 */ \
	MOVL $0x42fc0000, AX; VPBROADCASTD AX, Z21; \
	/* 192 */ \
	MOVL $0x43400000, AX; VPBROADCASTD AX, Z20; \
	/* |.| mask */ \
	MOVL $0x7fffffff, AX; VPBROADCASTD AX, Z19; \
	MOVL $0x82000000, AX; VPBROADCASTD AX, Z18; \
	MOVL $0x7f000000, AX; VPBROADCASTD AX, Z17; \
	VPXORD Z15, Z15, Z15

#define EXPF_CORE \
	/* z = x*0x1.715476p+0 + r */ \
	VMULPS Z30, Z0, Z1; \
	VADDPS Z31, Z1, Z1; \
	/* n = z - r */ \
	VSUBPS Z31, Z1, Z2; \
	/* b = (x - n*0x1.62e4p-1) - n*0x1.7f7d1cp-20 */ \
	VMULPS Z29, Z2, Z3; \
	VSUBPS Z3, Z0, Z3; \
	VMULPS Z28, Z2, Z4; \
	VSUBPS Z4, Z3, Z3; \
	/* e = bits(z) << 23 */ \
	VPSLLD $23, Z1, Z1; \
	/* k = e + bits(1) */ \
	VPADDD Z27, Z1, Z4; \
	/* u = b*b */ \
	VMULPS Z3, Z3, Z5; \
	/* p = (0x1.0e4020p-7*b + 0x1.573e2ep-5) * u */ \
	VMULPS Z3, Z26, Z6; \
	VADDPS Z25, Z6, Z6; \
	VMULPS Z5, Z6, Z6; \
	/* q = 0x1.555e66p-3*b + 0x1.fffdb6p-2 */ \
	VMULPS Z3, Z24, Z7; \
	VADDPS Z23, Z7, Z7; \
	/* j = (p+q)*u + 0x1.ffffecp-1*b */ \
	VADDPS Z7, Z6, Z6; \
	VMULPS Z5, Z6, Z6; \
	VMULPS Z3, Z22, Z7; \
	VADDPS Z7, Z6, Z6; \
	/* j*k + k */ \
	VMULPS Z4, Z6, Z0; \
	VADDPS Z4, Z0, Z0; \
	/* |n| > 126 */ \
	VPANDD Z19, Z2, Z7; \
	VCMPPS $0x1e, Z21, Z7, K2

#define EXPF_SPECIAL \
	/* g = n <= 0 ? 0x82000000 : 0 */ \
	VCMPPS $0x12, Z15, Z2, K3; \
	VMOVDQA32.Z Z18, K3, Z8; \
	/* s1 = g + 0x7f000000 */ \
	VPADDD Z17, Z8, Z5; \
	/* s2 = e - g */ \
	VPSUBD Z8, Z1, Z1; \
	/* ((s2*j) + s2) * s1 */ \
	VMULPS Z6, Z1, Z8; \
	VADDPS Z1, Z8, Z8; \
	VMULPS Z5, Z8, Z8; \
	VMOVAPS Z8, K2, Z0; \
	/* |n| > 192: s1*s1 */ \
	VCMPPS $0x1e, Z20, Z7, K3; \
	VMULPS Z5, Z5, Z8; \
	VMOVAPS Z8, K3, Z0

// func swigluAVX512(a, u *float32, n int)
//
// a[i] = silu(a[i]) * u[i] for i < n, silu(x) = x / (1 + expf(-x)).
TEXT ·swigluAVX512(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), SI
	MOVQ u+8(FP), DI
	MOVQ n+16(FP), CX
	EXPF_CONSTS
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z16
	MOVL $0xffff, AX
	KMOVW AX, K1

swLoop:
	CMPQ CX, $16
	JGE  swBody
	TESTQ CX, CX
	JLE  swDone
	MOVL $1, AX // the tail: lanes [0, n) only
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	MOVQ $16, CX

swBody:
	VMOVUPS (SI), K1, Z9
	VPXORD Z16, Z9, Z0 // -x
	EXPF_CORE
	KORTESTW K2, K2
	JZ   swNormal
	EXPF_SPECIAL

swNormal:
	VADDPS Z0, Z27, Z0 // 1 + expf(-x)
	VDIVPS Z0, Z9, Z0 // x / that
	VMOVUPS (DI), K1, Z10
	VMULPS Z10, Z0, Z0 // silu(x) * u
	VMOVUPS Z0, K1, (SI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  swLoop

swDone:
	VZEROUPPER
	RET

// func expSubAVX512(s *float32, n int, m float32)
//
// s[i] = expf(s[i] - m) for i < n.
TEXT ·expSubAVX512(SB), NOSPLIT, $0-20
	MOVQ s+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Z14
	EXPF_CONSTS
	MOVL $0xffff, AX
	KMOVW AX, K1

esLoop:
	CMPQ CX, $16
	JGE  esBody
	TESTQ CX, CX
	JLE  esDone
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1
	MOVQ $16, CX

esBody:
	VMOVUPS (SI), K1, Z9
	VSUBPS Z14, Z9, Z0 // s - m
	EXPF_CORE
	KORTESTW K2, K2
	JZ   esNormal
	EXPF_SPECIAL

esNormal:
	VMOVUPS Z0, K1, (SI)
	ADDQ $64, SI
	SUBQ $16, CX
	JMP  esLoop

esDone:
	VZEROUPPER
	RET

// The AVX2 forms keep seven constants in Y9..Y15 and read the others
// from expConsts: eight copies each of 0x1.555e66p-3, 0x1.fffdb6p-2,
// 0x1.ffffecp-1, 126, 192, the |.| mask, the sign bit, 0x82000000 and
// 0x7f000000. Constant operands are never NaN, so their order in a
// product does not matter; the order of two variable operands is ggml's.
#define EXPC(i, v) \
	DATA expConsts<>+(i*32+0)(SB)/4, $v; \
	DATA expConsts<>+(i*32+4)(SB)/4, $v; \
	DATA expConsts<>+(i*32+8)(SB)/4, $v; \
	DATA expConsts<>+(i*32+12)(SB)/4, $v; \
	DATA expConsts<>+(i*32+16)(SB)/4, $v; \
	DATA expConsts<>+(i*32+20)(SB)/4, $v; \
	DATA expConsts<>+(i*32+24)(SB)/4, $v; \
	DATA expConsts<>+(i*32+28)(SB)/4, $v

EXPC(0, 0x3e2aaf33)
EXPC(1, 0x3efffedb)
EXPC(2, 0x3f7ffff6)
EXPC(3, 0x42fc0000)
EXPC(4, 0x43400000)
EXPC(5, 0x7fffffff)
EXPC(6, 0x80000000)
EXPC(7, 0x82000000)
EXPC(8, 0x7f000000)
GLOBL expConsts<>(SB), RODATA|NOPTR, $288

#define EXPF8_CONSTS \
	MOVL $0x4b400000, AX; VMOVD AX, X15; VPBROADCASTD X15, Y15; \
	MOVL $0x3fb8aa3b, AX; VMOVD AX, X14; VPBROADCASTD X14, Y14; \
	MOVL $0x3f317200, AX; VMOVD AX, X13; VPBROADCASTD X13, Y13; \
	MOVL $0x35bfbe8e, AX; VMOVD AX, X12; VPBROADCASTD X12, Y12; \
	MOVL $0x3f800000, AX; VMOVD AX, X11; VPBROADCASTD X11, Y11; \
	MOVL $0x3c072010, AX; VMOVD AX, X10; VPBROADCASTD X10, Y10; \
	MOVL $0x3d2b9f17, AX; VMOVD AX, X9; VPBROADCASTD X9, Y9

// EXPF8 computes expf of Y0 into Y0 in eight lanes, as EXPF_CORE and
// EXPF_SPECIAL do in sixteen; Y1..Y7 are clobbered, and label names the
// end of the special path.
#define EXPF8(label) \
	VMULPS Y14, Y0, Y1; \
	VADDPS Y15, Y1, Y1; \
	VSUBPS Y15, Y1, Y2; \
	VMULPS Y13, Y2, Y3; \
	VSUBPS Y3, Y0, Y3; \
	VMULPS Y12, Y2, Y4; \
	VSUBPS Y4, Y3, Y3; \
	VPSLLD $23, Y1, Y1; \
	VPADDD Y11, Y1, Y4; \
	VMULPS Y3, Y3, Y5; \
	VMULPS Y3, Y10, Y6; \
	VADDPS Y9, Y6, Y6; \
	VMULPS Y5, Y6, Y6; \
	VMULPS expConsts<>+0(SB), Y3, Y7; \
	VADDPS expConsts<>+32(SB), Y7, Y7; \
	VADDPS Y7, Y6, Y6; \
	VMULPS Y5, Y6, Y6; \
	VMULPS expConsts<>+64(SB), Y3, Y7; \
	VADDPS Y7, Y6, Y6; \
	VMULPS Y4, Y6, Y0; \
	VADDPS Y4, Y0, Y0; \
	VANDPS expConsts<>+160(SB), Y2, Y7; \
	VCMPPS $0x1e, expConsts<>+96(SB), Y7, Y5; \
	VMOVMSKPS Y5, AX; \
	TESTL AX, AX; \
	JZ label; \
	VXORPS Y3, Y3, Y3; \
	VCMPPS $0x12, Y3, Y2, Y3; \
	VANDPS expConsts<>+224(SB), Y3, Y3; \
	VPADDD expConsts<>+256(SB), Y3, Y2; \
	VPSUBD Y3, Y1, Y1; \
	VMULPS Y6, Y1, Y3; \
	VADDPS Y1, Y3, Y3; \
	VMULPS Y2, Y3, Y3; \
	VBLENDVPS Y5, Y3, Y0, Y0; \
	VCMPPS $0x1e, expConsts<>+128(SB), Y7, Y5; \
	VMULPS Y2, Y2, Y3; \
	VBLENDVPS Y5, Y3, Y0, Y0; \
label:

// func swigluAVX2(a, u *float32, n int)
//
// swigluAVX512 in eight lanes, for n a multiple of 8.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), SI
	MOVQ u+8(FP), DI
	MOVQ n+16(FP), CX
	EXPF8_CONSTS
	VMOVUPS expConsts<>+192(SB), Y8

sw2Loop:
	CMPQ CX, $8
	JL   sw2Done
	VXORPS (SI), Y8, Y0 // -x
	EXPF8(sw2Exp)
	VADDPS Y0, Y11, Y0 // 1 + expf(-x)
	VMOVUPS (SI), Y1
	VDIVPS Y0, Y1, Y0 // x / that
	VMULPS (DI), Y0, Y0 // silu(x) * u
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  sw2Loop

sw2Done:
	VZEROUPPER
	RET

// func expSubAVX2(s *float32, n int, m float32)
//
// expSubAVX512 in eight lanes, for n a multiple of 8.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-20
	MOVQ s+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y8
	EXPF8_CONSTS

es2Loop:
	CMPQ CX, $8
	JL   es2Done
	VMOVUPS (SI), Y0
	VSUBPS Y8, Y0, Y0 // s - m
	EXPF8(es2Exp)
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  es2Loop

es2Done:
	VZEROUPPER
	RET
