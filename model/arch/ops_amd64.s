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
