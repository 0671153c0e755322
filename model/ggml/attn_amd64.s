//go:build !noasm && amd64

#include "textflag.h"

// Attention kernels over F16 keys and values (AVX2 with F16C). Every lane
// does exactly the scalar code's operations in the same order: products
// of two F16 values in float32 (exact), widened to float64 and added in
// sequence, so results equal the pure-Go kernels bit for bit.

// WIDEN_ADD(Ysrc, Xsrc, Xtmp, Ylo, Yhi) adds the eight float32 lanes of
// Ysrc, widened to float64, to Ylo (lanes 0-3) and Yhi (lanes 4-7).
#define WIDEN_ADD(Ysrc, Xsrc, Ytmp, Xtmp, Ylo, Yhi) \
	VCVTPS2PD Xsrc, Ytmp \
	VADDPD Ytmp, Ylo, Ylo \
	VEXTRACTF128 $1, Ysrc, Xtmp \
	VCVTPS2PD Xtmp, Ytmp \
	VADDPD Ytmp, Yhi, Yhi

// NARROW_STORE(Ylo, Xlo, Yhi, Xhi, off) stores float32(Ylo:Yhi)*scale
// (Y14) at off(DI).
#define NARROW_STORE(Ylo, Xlo, Yhi, Xhi, off) \
	VCVTPD2PSY Ylo, Xlo \
	VCVTPD2PSY Yhi, Xhi \
	VINSERTF128 $1, Xhi, Ylo, Ylo \
	VMULPS Y14, Ylo, Ylo \
	VMOVUPS Ylo, off(DI)

// func scoresF16AVX2(dst *float32, n int, kT *uint16, stride int, q *float32, dim int, scale float32)
TEXT ·scoresF16AVX2(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), BX
	MOVQ kT+16(FP), SI
	MOVQ stride+24(FP), R8
	SHLQ $1, R8            // row stride in bytes
	MOVQ q+32(FP), DX
	MOVQ dim+40(FP), CX
	VBROADCASTSS scale+48(FP), Y14

block32:
	CMPQ BX, $32
	JLT  block8
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	MOVQ SI, R9
	MOVQ DX, R10
	MOVQ CX, R11

loop32:
	VBROADCASTSS (R10), Y15
	VCVTPH2PS (R9), Y8
	VCVTPH2PS 16(R9), Y9
	VCVTPH2PS 32(R9), Y10
	VCVTPH2PS 48(R9), Y11
	VMULPS Y15, Y8, Y8
	VMULPS Y15, Y9, Y9
	VMULPS Y15, Y10, Y10
	VMULPS Y15, Y11, Y11
	WIDEN_ADD(Y8, X8, Y12, X12, Y0, Y1)
	WIDEN_ADD(Y9, X9, Y13, X13, Y2, Y3)
	WIDEN_ADD(Y10, X10, Y12, X12, Y4, Y5)
	WIDEN_ADD(Y11, X11, Y13, X13, Y6, Y7)
	ADDQ R8, R9
	ADDQ $4, R10
	DECQ R11
	JNZ  loop32

	NARROW_STORE(Y0, X0, Y1, X1, 0)
	NARROW_STORE(Y2, X2, Y3, X3, 32)
	NARROW_STORE(Y4, X4, Y5, X5, 64)
	NARROW_STORE(Y6, X6, Y7, X7, 96)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, BX
	JMP  block32

block8:
	CMPQ BX, $8
	JLT  done
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	MOVQ SI, R9
	MOVQ DX, R10
	MOVQ CX, R11

loop8:
	VBROADCASTSS (R10), Y15
	VCVTPH2PS (R9), Y8
	VMULPS Y15, Y8, Y8
	WIDEN_ADD(Y8, X8, Y12, X12, Y0, Y1)
	ADDQ R8, R9
	ADDQ $4, R10
	DECQ R11
	JNZ  loop8

	NARROW_STORE(Y0, X0, Y1, X1, 0)
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, BX
	JMP  block8

done:
	VZEROUPPER
	RET

// func accumulateF16AVX2(acc *float64, dim int, values *uint16, stride int, p *float32, n int)
TEXT ·accumulateF16AVX2(SB), NOSPLIT, $0-48
	MOVQ acc+0(FP), DI
	MOVQ dim+8(FP), BX
	MOVQ values+16(FP), SI
	MOVQ stride+24(FP), R8
	SHLQ $1, R8            // row stride in bytes
	MOVQ p+32(FP), DX
	MOVQ n+40(FP), CX

chunk32:
	CMPQ BX, $32
	JLT  chunk8
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	VMOVUPD 128(DI), Y4
	VMOVUPD 160(DI), Y5
	VMOVUPD 192(DI), Y6
	VMOVUPD 224(DI), Y7
	MOVQ SI, R9
	MOVQ DX, R10
	MOVQ CX, R11

loop32:
	MOVL (R10), AX
	TESTL $0x7fffffff, AX  // a zero weight (either sign) is skipped
	JZ   next32
	VBROADCASTSS (R10), Y15
	VCVTPH2PS (R9), Y8
	VCVTPH2PS 16(R9), Y9
	VCVTPH2PS 32(R9), Y10
	VCVTPH2PS 48(R9), Y11
	VMULPS Y15, Y8, Y8
	VMULPS Y15, Y9, Y9
	VMULPS Y15, Y10, Y10
	VMULPS Y15, Y11, Y11
	WIDEN_ADD(Y8, X8, Y12, X12, Y0, Y1)
	WIDEN_ADD(Y9, X9, Y13, X13, Y2, Y3)
	WIDEN_ADD(Y10, X10, Y12, X12, Y4, Y5)
	WIDEN_ADD(Y11, X11, Y13, X13, Y6, Y7)

next32:
	ADDQ R8, R9
	ADDQ $4, R10
	DECQ R11
	JNZ  loop32

	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VMOVUPD Y4, 128(DI)
	VMOVUPD Y5, 160(DI)
	VMOVUPD Y6, 192(DI)
	VMOVUPD Y7, 224(DI)
	ADDQ $64, SI
	ADDQ $256, DI
	SUBQ $32, BX
	JMP  chunk32

chunk8:
	CMPQ BX, $8
	JLT  done
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	MOVQ SI, R9
	MOVQ DX, R10
	MOVQ CX, R11

loop8:
	MOVL (R10), AX
	TESTL $0x7fffffff, AX
	JZ   next8
	VBROADCASTSS (R10), Y15
	VCVTPH2PS (R9), Y8
	VMULPS Y15, Y8, Y8
	WIDEN_ADD(Y8, X8, Y12, X12, Y0, Y1)

next8:
	ADDQ R8, R9
	ADDQ $4, R10
	DECQ R11
	JNZ  loop8

	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	ADDQ $16, SI
	ADDQ $64, DI
	SUBQ $8, BX
	JMP  chunk8

done:
	VZEROUPPER
	RET

// AVX-512 forms: 16 lanes per conversion, twice the AVX2 ones' work per
// instruction, the same operations in the same order per lane.

// WIDEN_ADD16(Zsrc, Ysrc, Ztmp, Ytmp, Zlo, Zhi) adds the sixteen float32
// lanes of Zsrc, widened to float64, to Zlo (lanes 0-7) and Zhi (8-15).
#define WIDEN_ADD16(Zsrc, Ysrc, Ztmp, Ytmp, Zlo, Zhi) \
	VCVTPS2PD Ysrc, Ztmp \
	VADDPD Ztmp, Zlo, Zlo \
	VEXTRACTF64X4 $1, Zsrc, Ytmp \
	VCVTPS2PD Ytmp, Ztmp \
	VADDPD Ztmp, Zhi, Zhi

// NARROW_STORE16(Zlo, Ylo, Zhi, Yhi, off) stores float32(Zlo:Zhi)*scale
// (Z14) at off(DI).
#define NARROW_STORE16(Zlo, Ylo, Zhi, Yhi, off) \
	VCVTPD2PS Zlo, Ylo \
	VCVTPD2PS Zhi, Yhi \
	VINSERTF64X4 $1, Yhi, Zlo, Zlo \
	VMULPS Z14, Zlo, Zlo \
	VMOVUPS Zlo, off(DI)

// func scoresF16AVX512(dst *float32, n int, kT *uint16, stride int, q *float32, dim int, scale float32)
TEXT ·scoresF16AVX512(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), BX
	MOVQ kT+16(FP), SI
	MOVQ stride+24(FP), R8
	SHLQ $1, R8
	MOVQ q+32(FP), DX
	MOVQ dim+40(FP), CX
	VBROADCASTSS scale+48(FP), Z14

sblock64:
	CMPQ BX, $64
	JLT  sblock16
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3
	VPXORQ Z4, Z4, Z4
	VPXORQ Z5, Z5, Z5
	VPXORQ Z6, Z6, Z6
	VPXORQ Z7, Z7, Z7
	MOVQ SI, R9
	MOVQ DX, R10
	MOVQ CX, R11

sloop64:
	VBROADCASTSS (R10), Z15
	VCVTPH2PS (R9), Z8
	VCVTPH2PS 32(R9), Z9
	VCVTPH2PS 64(R9), Z10
	VCVTPH2PS 96(R9), Z11
	VMULPS Z15, Z8, Z8
	VMULPS Z15, Z9, Z9
	VMULPS Z15, Z10, Z10
	VMULPS Z15, Z11, Z11
	WIDEN_ADD16(Z8, Y8, Z12, Y12, Z0, Z1)
	WIDEN_ADD16(Z9, Y9, Z13, Y13, Z2, Z3)
	WIDEN_ADD16(Z10, Y10, Z16, Y16, Z4, Z5)
	WIDEN_ADD16(Z11, Y11, Z17, Y17, Z6, Z7)
	ADDQ R8, R9
	ADDQ $4, R10
	DECQ R11
	JNZ  sloop64

	NARROW_STORE16(Z0, Y0, Z1, Y1, 0)
	NARROW_STORE16(Z2, Y2, Z3, Y3, 64)
	NARROW_STORE16(Z4, Y4, Z5, Y5, 128)
	NARROW_STORE16(Z6, Y6, Z7, Y7, 192)
	ADDQ $128, SI
	ADDQ $256, DI
	SUBQ $64, BX
	JMP  sblock64

sblock16:
	CMPQ BX, $16
	JLT  sdone
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	MOVQ SI, R9
	MOVQ DX, R10
	MOVQ CX, R11

sloop16:
	VBROADCASTSS (R10), Z15
	VCVTPH2PS (R9), Z8
	VMULPS Z15, Z8, Z8
	WIDEN_ADD16(Z8, Y8, Z12, Y12, Z0, Z1)
	ADDQ R8, R9
	ADDQ $4, R10
	DECQ R11
	JNZ  sloop16

	NARROW_STORE16(Z0, Y0, Z1, Y1, 0)
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, BX
	JMP  sblock16

sdone:
	VZEROUPPER
	RET

// func accumulateF16AVX512(acc *float64, dim int, values *uint16, stride int, p *float32, n int)
TEXT ·accumulateF16AVX512(SB), NOSPLIT, $0-48
	MOVQ acc+0(FP), DI
	MOVQ dim+8(FP), BX
	MOVQ values+16(FP), SI
	MOVQ stride+24(FP), R8
	SHLQ $1, R8
	MOVQ p+32(FP), DX
	MOVQ n+40(FP), CX

achunk64:
	CMPQ BX, $64
	JLT  achunk16
	VMOVUPD (DI), Z0
	VMOVUPD 64(DI), Z1
	VMOVUPD 128(DI), Z2
	VMOVUPD 192(DI), Z3
	VMOVUPD 256(DI), Z4
	VMOVUPD 320(DI), Z5
	VMOVUPD 384(DI), Z6
	VMOVUPD 448(DI), Z7
	MOVQ SI, R9
	MOVQ DX, R10
	MOVQ CX, R11

aloop64:
	MOVL (R10), AX
	TESTL $0x7fffffff, AX  // a zero weight (either sign) is skipped
	JZ   anext64
	VBROADCASTSS (R10), Z15
	VCVTPH2PS (R9), Z8
	VCVTPH2PS 32(R9), Z9
	VCVTPH2PS 64(R9), Z10
	VCVTPH2PS 96(R9), Z11
	VMULPS Z15, Z8, Z8
	VMULPS Z15, Z9, Z9
	VMULPS Z15, Z10, Z10
	VMULPS Z15, Z11, Z11
	WIDEN_ADD16(Z8, Y8, Z12, Y12, Z0, Z1)
	WIDEN_ADD16(Z9, Y9, Z13, Y13, Z2, Z3)
	WIDEN_ADD16(Z10, Y10, Z16, Y16, Z4, Z5)
	WIDEN_ADD16(Z11, Y11, Z17, Y17, Z6, Z7)

anext64:
	ADDQ R8, R9
	ADDQ $4, R10
	DECQ R11
	JNZ  aloop64

	VMOVUPD Z0, (DI)
	VMOVUPD Z1, 64(DI)
	VMOVUPD Z2, 128(DI)
	VMOVUPD Z3, 192(DI)
	VMOVUPD Z4, 256(DI)
	VMOVUPD Z5, 320(DI)
	VMOVUPD Z6, 384(DI)
	VMOVUPD Z7, 448(DI)
	ADDQ $128, SI
	ADDQ $512, DI
	SUBQ $64, BX
	JMP  achunk64

achunk16:
	CMPQ BX, $16
	JLT  adone
	VMOVUPD (DI), Z0
	VMOVUPD 64(DI), Z1
	MOVQ SI, R9
	MOVQ DX, R10
	MOVQ CX, R11

aloop16:
	MOVL (R10), AX
	TESTL $0x7fffffff, AX
	JZ   anext16
	VBROADCASTSS (R10), Z15
	VCVTPH2PS (R9), Z8
	VMULPS Z15, Z8, Z8
	WIDEN_ADD16(Z8, Y8, Z12, Y12, Z0, Z1)

anext16:
	ADDQ R8, R9
	ADDQ $4, R10
	DECQ R11
	JNZ  aloop16

	VMOVUPD Z0, (DI)
	VMOVUPD Z1, 64(DI)
	ADDQ $32, SI
	ADDQ $128, DI
	SUBQ $16, BX
	JMP  achunk16

adone:
	VZEROUPPER
	RET
