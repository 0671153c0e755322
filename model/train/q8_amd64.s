//go:build !noasm

#include "textflag.h"

// q8colPerm turns four rows of sixteen bytes (row-major) into sixteen
// columns of four bytes: byte 4c+r of the result is byte 16r+c.
DATA q8colPerm<>+0(SB)/8, $0x3121110130201000
DATA q8colPerm<>+8(SB)/8, $0x3323130332221202
DATA q8colPerm<>+16(SB)/8, $0x3525150534241404
DATA q8colPerm<>+24(SB)/8, $0x3727170736261606
DATA q8colPerm<>+32(SB)/8, $0x3929190938281808
DATA q8colPerm<>+40(SB)/8, $0x3b2b1b0b3a2a1a0a
DATA q8colPerm<>+48(SB)/8, $0x3d2d1d0d3c2c1c0c
DATA q8colPerm<>+56(SB)/8, $0x3f2f1f0f3e2e1e0e
GLOBL q8colPerm<>(SB), RODATA|NOPTR, $64

// q8colIota is the dwords 0..15.
DATA q8colIota<>+0(SB)/8, $0x0000000100000000
DATA q8colIota<>+8(SB)/8, $0x0000000300000002
DATA q8colIota<>+16(SB)/8, $0x0000000500000004
DATA q8colIota<>+24(SB)/8, $0x0000000700000006
DATA q8colIota<>+32(SB)/8, $0x0000000900000008
DATA q8colIota<>+40(SB)/8, $0x0000000b0000000a
DATA q8colIota<>+48(SB)/8, $0x0000000d0000000c
DATA q8colIota<>+56(SB)/8, $0x0000000f0000000e
GLOBL q8colIota<>(SB), RODATA|NOPTR, $64

// func quantColsQ8AVX512(tile *float32, rowBytes int, dst *byte, dstStride int, d *[16]float32)
//
// Sixteen columns of a 32-row tile (rows rowBytes apart) quantized as
// Q8_0 blocks: d[i] = max|v|/127 of column i, and the column's 32 levels,
// round(v/d) to the nearest even, at dst + i*dstStride.
TEXT ·quantColsQ8AVX512(SB), NOSPLIT, $0-40
	MOVQ tile+0(FP), SI
	MOVQ rowBytes+8(FP), BX
	MOVQ dst+16(FP), DI
	MOVQ dstStride+24(FP), DX
	MOVQ d+32(FP), R8

	// the largest |v| of each column, compared as bits (as the Go code does)
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z1
	VPXORD       Z0, Z0, Z0
	MOVQ         SI, R9
	MOVQ         $32, CX

amax:
	VPANDD  (R9), Z1, Z2
	VPMAXUD Z2, Z0, Z0
	ADDQ    BX, R9
	DECQ    CX
	JNZ     amax

	MOVL         $0x42fe0000, AX // 127
	VPBROADCASTD AX, Z3
	VDIVPS       Z3, Z0, Z4      // d = amax/127
	VMOVUPS      Z4, (R8)
	MOVL         $0x3f800000, AX // 1
	VPBROADCASTD AX, Z5
	VDIVPS       Z4, Z5, Z6      // 1/d
	VPXORD       Z7, Z7, Z7
	VCMPPS       $4, Z7, Z4, K1  // d != 0 (NaN included, as Go's !=)
	VMOVAPS.Z    Z6, K1, Z6      // 1/d, or 0 where d is 0

	// scatter offsets: column i at i*dstStride
	VPBROADCASTD DX, Z9
	VPMULLD      q8colIota<>(SB), Z9, Z8
	VMOVDQU64    q8colPerm<>(SB), Z15

	// four rows at a time: levels, bytes, one dword per column
	MOVQ $8, CX

quant:
	VMULPS    (SI), Z6, Z10
	VCVTPS2DQ Z10, Z10
	VPMOVSDB  Z10, X11
	ADDQ      BX, SI
	VMULPS    (SI), Z6, Z12
	VCVTPS2DQ Z12, Z12
	VPMOVSDB  Z12, X13
	ADDQ      BX, SI
	VMULPS    (SI), Z6, Z10
	VCVTPS2DQ Z10, Z10
	VPMOVSDB  Z10, X14
	ADDQ      BX, SI
	VMULPS    (SI), Z6, Z12
	VCVTPS2DQ Z12, Z12
	VPMOVSDB  Z12, X16
	ADDQ      BX, SI
	VINSERTI32X4 $1, X13, Z11, Z11
	VINSERTI32X4 $2, X14, Z11, Z11
	VINSERTI32X4 $3, X16, Z11, Z11
	VPERMB       Z11, Z15, Z11
	KXNORW       K2, K2, K2
	VPSCATTERDD  Z11, K2, (DI)(Z8*1)
	ADDQ         $4, DI
	DECQ         CX
	JNZ          quant
	VZEROUPPER
	RET

// func decodeQ8AVX512(src *byte, nb int, dst *float32)
//
// nb Q8_0 blocks decoded as ggml does: each level times the block's F16
// scale widened to float32.
TEXT ·decodeQ8AVX512(SB), NOSPLIT, $0-24
	MOVQ src+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ dst+16(FP), DI
	TESTQ CX, CX
	JZ    decdone

decloop:
	VPBROADCASTW (SI), Y0
	VCVTPH2PS    Y0, Z1
	VPMOVSXBD    2(SI), Z2
	VPMOVSXBD    18(SI), Z3
	VCVTDQ2PS    Z2, Z2
	VCVTDQ2PS    Z3, Z3
	VMULPS       Z1, Z2, Z2
	VMULPS       Z1, Z3, Z3
	VMOVUPS      Z2, (DI)
	VMOVUPS      Z3, 64(DI)
	ADDQ         $34, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          decloop

decdone:
	VZEROUPPER
	RET
