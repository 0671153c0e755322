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
