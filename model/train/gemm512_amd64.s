//go:build !noasm

#include "textflag.h"

// func gemm4x32AVX512(dx *[4]*float32, dy *[4]*float32, w *float32, wstride int, nr int)
// For i in 0..3: dx[i][0:32] += Σ_{r<nr} dy[i][r] · w[r*wstride : r*wstride+32],
// each element's sum the chain of fused multiply-adds over r from zero
// that gemm4x16FMA computes, then added to dx: the same results bit for
// bit, twice the columns per call.
TEXT ·gemm4x32AVX512(SB), NOSPLIT, $0-40
	MOVQ dy+8(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ w+16(FP), SI
	MOVQ wstride+24(FP), DX
	SHLQ $2, DX
	MOVQ nr+32(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

g32loop:
	TESTQ CX, CX
	JZ    g32store
	VMOVUPS      (SI), Z8
	VMOVUPS      64(SI), Z9
	VBROADCASTSS (R8), Z10
	VFMADD231PS  Z8, Z10, Z0
	VFMADD231PS  Z9, Z10, Z1
	VBROADCASTSS (R9), Z11
	VFMADD231PS  Z8, Z11, Z2
	VFMADD231PS  Z9, Z11, Z3
	VBROADCASTSS (R10), Z12
	VFMADD231PS  Z8, Z12, Z4
	VFMADD231PS  Z9, Z12, Z5
	VBROADCASTSS (R11), Z13
	VFMADD231PS  Z8, Z13, Z6
	VFMADD231PS  Z9, Z13, Z7
	ADDQ         DX, SI
	ADDQ         $4, R8
	ADDQ         $4, R9
	ADDQ         $4, R10
	ADDQ         $4, R11
	DECQ         CX
	JMP          g32loop

g32store:
	MOVQ    dx+0(FP), AX
	MOVQ    0(AX), DI
	VADDPS  (DI), Z0, Z0
	VADDPS  64(DI), Z1, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	MOVQ    8(AX), DI
	VADDPS  (DI), Z2, Z2
	VADDPS  64(DI), Z3, Z3
	VMOVUPS Z2, (DI)
	VMOVUPS Z3, 64(DI)
	MOVQ    16(AX), DI
	VADDPS  (DI), Z4, Z4
	VADDPS  64(DI), Z5, Z5
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, 64(DI)
	MOVQ    24(AX), DI
	VADDPS  (DI), Z6, Z6
	VADDPS  64(DI), Z7, Z7
	VMOVUPS Z6, (DI)
	VMOVUPS Z7, 64(DI)
	VZEROUPPER
	RET

// func transpose16AVX512(dst *float32, dstStride int, src *float32, idx *[16]int32, cols int)
// For c < cols: dst[c*dstStride : c*dstStride+16] = the sixteen floats
// src[idx[r] + c], r = 0..15 (idx: the rows' offsets).
TEXT ·transpose16AVX512(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    dstStride+8(FP), DX
	SHLQ    $2, DX
	MOVQ    src+16(FP), SI
	MOVQ    idx+24(FP), AX
	VMOVDQU32 (AX), Z0
	MOVQ    cols+32(FP), CX
	TESTQ   CX, CX
	JZ      t16done

t16loop:
	KXNORW     K1, K1, K1
	VGATHERDPS (SI)(Z0*4), K1, Z1
	VMOVUPS    Z1, (DI)
	ADDQ       $4, SI
	ADDQ       DX, DI
	DECQ       CX
	JNZ        t16loop

t16done:
	VZEROUPPER
	RET
