//go:build !noasm && amd64

#include "textflag.h"

// Kernels for the packed layouts of Q8_0, Q4_0 and Q5_0 (pack32.go): the
// 16 int32 lanes of a vector are 16 rows of a group, so a block's product
// with one activation is eight VPDPBUSD with the activation's 4-byte
// groups broadcast, and no horizontal sums. Each block's weights are
// loaded (and decoded to unsigned levels in Z0-Z7, vector k pairing with
// activation bytes 4k..4k+3) once for up to eight activations. Integer
// block sums are exact (the accumulator starts at -bias·Σa); the float32
// operations per (row, activation) are dot.go's, in block order, so the
// results equal the row kernels bit for bit.

DATA pk32nib<>+0(SB)/4, $0x0f0f0f0f
GLOBL pk32nib<>(SB), RODATA|NOPTR, $4

DATA pk32bit4<>+0(SB)/4, $0x10101010
GLOBL pk32bit4<>(SB), RODATA|NOPTR, $4

// PK32ACT runs activation slot i of the slice (R12 points at the slots:
// q at off, d at off+8, -Σa at off+16, 32 bytes each) against the block's
// levels Z0-Z7: the exact int32 sums of the 16 rows into Z9 (two chains of
// four VPDPBUSD, Z9 and Z13, then added: with four activations a block
// runs about 8% faster than with one chain of eight), then
// FACC += float32(sum) scaled as SCALE does (dw per row in Z8).
#define PK32ACT(off, doff, soff, FACC, SH, SCALE) \
	MOVQ soff(R12), AX \
	VPSLLD.BCST $SH, (AX)(DI*1), Z9 \
	MOVQ off(R12), AX \
	VPXORD Z13, Z13, Z13 \
	VPDPBUSD.BCST (AX)(DI*8), Z0, Z9 \
	VPDPBUSD.BCST 4(AX)(DI*8), Z1, Z13 \
	VPDPBUSD.BCST 8(AX)(DI*8), Z2, Z9 \
	VPDPBUSD.BCST 12(AX)(DI*8), Z3, Z13 \
	VPDPBUSD.BCST 16(AX)(DI*8), Z4, Z9 \
	VPDPBUSD.BCST 20(AX)(DI*8), Z5, Z13 \
	VPDPBUSD.BCST 24(AX)(DI*8), Z6, Z9 \
	VPDPBUSD.BCST 28(AX)(DI*8), Z7, Z13 \
	VPADDD Z13, Z9, Z9 \
	VCVTDQ2PS Z9, Z9 \
	MOVQ doff(R12), AX \
	VBROADCASTSS (AX)(DI*1), Z10 \
	SCALE \
	VADDPS Z9, FACC, FACC

// order 0 (Q8_0, Q5_0): float32(sum) * (dw*dx); order 1 (Q4_0):
// (float32(sum)*dw) * dx
#define PK32SCALE0 VMULPS Z10, Z8, Z10; VMULPS Z10, Z9, Z9
#define PK32SCALE1 VMULPS Z8, Z9, Z9; VMULPS Z10, Z9, Z9

// PK32ACTS runs the R13 (1..8) activation slots against the block.
#define PK32ACTS(SH, SCALE, done) \
	PK32ACT(0, 8, 16, Z16, SH, SCALE) \
	CMPQ R13, $1 \
	JEQ done \
	PK32ACT(32, 40, 48, Z17, SH, SCALE) \
	CMPQ R13, $2 \
	JEQ done \
	PK32ACT(64, 72, 80, Z18, SH, SCALE) \
	CMPQ R13, $3 \
	JEQ done \
	PK32ACT(96, 104, 112, Z19, SH, SCALE) \
	CMPQ R13, $4 \
	JEQ done \
	PK32ACT(128, 136, 144, Z20, SH, SCALE) \
	CMPQ R13, $5 \
	JEQ done \
	PK32ACT(160, 168, 176, Z21, SH, SCALE) \
	CMPQ R13, $6 \
	JEQ done \
	PK32ACT(192, 200, 208, Z22, SH, SCALE) \
	CMPQ R13, $7 \
	JEQ done \
	PK32ACT(224, 232, 240, Z23, SH, SCALE)

// PK32STORE writes the sums of slot i (FACC) to its output row pointer
// (at off in the slot) plus R9, unless the slice has only i slots.
#define PK32STORE(i, off, FACC, done) \
	CMPQ R13, $i \
	JEQ done \
	MOVQ off(R12), AX \
	VMOVUPS FACC, (AX)(R9*1)

// PK32ZERO clears the eight float accumulators.
#define PK32ZERO \
	VPXORD Z16, Z16, Z16 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPXORD Z19, Z19, Z19 \
	VPXORD Z20, Z20, Z20 \
	VPXORD Z21, Z21, Z21 \
	VPXORD Z22, Z22, Z22 \
	VPXORD Z23, Z23, Z23

// PK32PF5, PK32PF6 and PK32PF9 prefetch the weight stream BX bytes
// ahead of SI (the loops skip them when BX is 0), 64 bytes apart: enough lines for one block of the Q4_0,
// Q5_0 and Q8_0 layouts, so that every line of the stream is prefetched.
#define PK32PF5 \
	PREFETCHT0 (SI)(BX*1) \
	PREFETCHT0 64(SI)(BX*1) \
	PREFETCHT0 128(SI)(BX*1) \
	PREFETCHT0 192(SI)(BX*1) \
	PREFETCHT0 256(SI)(BX*1)

#define PK32PF6 \
	PK32PF5 \
	PREFETCHT0 320(SI)(BX*1)

#define PK32PF9 \
	PK32PF6 \
	PREFETCHT0 384(SI)(BX*1) \
	PREFETCHT0 448(SI)(BX*1) \
	PREFETCHT0 512(SI)(BX*1)

// PK32Q8BLOCK: a Q8_0 block's levels are stored as they are used.
#define PK32Q8BLOCK \
	VCVTPH2PS (SI), Z8 \
	VMOVDQU32 32(SI), Z0 \
	VMOVDQU32 96(SI), Z1 \
	VMOVDQU32 160(SI), Z2 \
	VMOVDQU32 224(SI), Z3 \
	VMOVDQU32 288(SI), Z4 \
	VMOVDQU32 352(SI), Z5 \
	VMOVDQU32 416(SI), Z6 \
	VMOVDQU32 480(SI), Z7 \
	ADDQ $544, SI

// PK32Q4BLOCK: nibble vector m gives the low nibbles (Zm, elements
// 4m..4m+3) and the high ones (Z(4+m), elements 16+4m..16+4m+3).
#define PK32Q4BLOCK \
	VCVTPH2PS (SI), Z8 \
	VMOVDQU32 32(SI), Z0 \
	VMOVDQU32 96(SI), Z1 \
	VMOVDQU32 160(SI), Z2 \
	VMOVDQU32 224(SI), Z3 \
	VPSRLW $4, Z0, Z4 \
	VPSRLW $4, Z1, Z5 \
	VPSRLW $4, Z2, Z6 \
	VPSRLW $4, Z3, Z7 \
	VPANDD Z31, Z0, Z0 \
	VPANDD Z31, Z1, Z1 \
	VPANDD Z31, Z2, Z2 \
	VPANDD Z31, Z3, Z3 \
	VPANDD Z31, Z4, Z4 \
	VPANDD Z31, Z5, Z5 \
	VPANDD Z31, Z6, Z6 \
	VPANDD Z31, Z7, Z7 \
	ADDQ $288, SI

// PK32Q5HIGH merges bit column c of the permuted high bits (Z11, shifted
// so that the column is bit 4 of each byte, in Z12) into the nibbles of
// Zc: Zc = (Zc & 0x0f) | (Z12 & 0x10).
#define PK32Q5HIGH(Z) \
	VPANDD Z30, Z12, Z12 \
	VPTERNLOGD $0xea, Z12, Z31, Z

#define PK32Q5BLOCK \
	VCVTPH2PS (SI), Z8 \
	VMOVDQU32 32(SI), Z11 \
	VMOVDQU32 96(SI), Z0 \
	VMOVDQU32 160(SI), Z1 \
	VMOVDQU32 224(SI), Z2 \
	VMOVDQU32 288(SI), Z3 \
	VPSRLW $4, Z0, Z4 \
	VPSRLW $4, Z1, Z5 \
	VPSRLW $4, Z2, Z6 \
	VPSRLW $4, Z3, Z7 \
	VPSLLD $4, Z11, Z12 \
	PK32Q5HIGH(Z0) \
	VPSLLD $3, Z11, Z12 \
	PK32Q5HIGH(Z1) \
	VPSLLD $2, Z11, Z12 \
	PK32Q5HIGH(Z2) \
	VPSLLD $1, Z11, Z12 \
	PK32Q5HIGH(Z3) \
	VMOVDQA32 Z11, Z12 \
	PK32Q5HIGH(Z4) \
	VPSRLD $1, Z11, Z12 \
	PK32Q5HIGH(Z5) \
	VPSRLD $2, Z11, Z12 \
	PK32Q5HIGH(Z6) \
	VPSRLD $3, Z11, Z12 \
	PK32Q5HIGH(Z7) \
	ADDQ $352, SI

// The three kernels share their loops: for each group of 16 rows, for
// each slice of up to eight activations (R13 of them), for each block:
// load and decode the block at SI into Z0-Z8 (advancing SI), then run the
// slice's activations against it; then store the slice's sums.

// func pk32Q8VNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
// ngroups packed groups of 16 Q8_0 rows (gb bytes each, nb blocks) times
// nacts activations; slot t's output row pointer gets group g's 16 sums
// at 16g.
TEXT ·pk32Q8VNNI(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $8, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	PK32ZERO
block:
	TESTQ BX, BX
	JEQ loaded
	PK32PF9
loaded:
	PK32Q8BLOCK
	PK32ACTS(7, PK32SCALE0, next)
next:
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PK32STORE(0, 24, Z16, stored)
	PK32STORE(1, 56, Z17, stored)
	PK32STORE(2, 88, Z18, stored)
	PK32STORE(3, 120, Z19, stored)
	PK32STORE(4, 152, Z20, stored)
	PK32STORE(5, 184, Z21, stored)
	PK32STORE(6, 216, Z22, stored)
	PK32STORE(7, 248, Z23, stored)
stored:
	ADDQ $256, R12
	SUBQ $8, R14
	JGT slice
	ADDQ gb+8(FP), R10
	ADDQ $64, R9
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET

// func pk32Q4VNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
TEXT ·pk32Q4VNNI(SB), NOSPLIT, $0-56
	VPBROADCASTD pk32nib<>(SB), Z31
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $8, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	PK32ZERO
block:
	TESTQ BX, BX
	JEQ loaded
	PK32PF5
loaded:
	PK32Q4BLOCK
	PK32ACTS(3, PK32SCALE1, next)
next:
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PK32STORE(0, 24, Z16, stored)
	PK32STORE(1, 56, Z17, stored)
	PK32STORE(2, 88, Z18, stored)
	PK32STORE(3, 120, Z19, stored)
	PK32STORE(4, 152, Z20, stored)
	PK32STORE(5, 184, Z21, stored)
	PK32STORE(6, 216, Z22, stored)
	PK32STORE(7, 248, Z23, stored)
stored:
	ADDQ $256, R12
	SUBQ $8, R14
	JGT slice
	ADDQ gb+8(FP), R10
	ADDQ $64, R9
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET

// func pk32Q5VNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
TEXT ·pk32Q5VNNI(SB), NOSPLIT, $0-56
	VPBROADCASTD pk32nib<>(SB), Z31
	VPBROADCASTD pk32bit4<>(SB), Z30
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $8, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	PK32ZERO
block:
	TESTQ BX, BX
	JEQ loaded
	PK32PF6
loaded:
	PK32Q5BLOCK
	PK32ACTS(4, PK32SCALE0, next)
next:
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PK32STORE(0, 24, Z16, stored)
	PK32STORE(1, 56, Z17, stored)
	PK32STORE(2, 88, Z18, stored)
	PK32STORE(3, 120, Z19, stored)
	PK32STORE(4, 152, Z20, stored)
	PK32STORE(5, 184, Z21, stored)
	PK32STORE(6, 216, Z22, stored)
	PK32STORE(7, 248, Z23, stored)
stored:
	ADDQ $256, R12
	SUBQ $8, R14
	JGT slice
	ADDQ gb+8(FP), R10
	ADDQ $64, R9
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET
