//go:build !noasm && amd64

#include "textflag.h"

// 256-bit kernels for the packed layouts of Q8_0, Q4_0 and Q5_0
// (pack32.go): the same layout as the AVX-512 kernels of pack32_amd64.s,
// read as two halves: bytes 0-31 of each 64-byte quant vector are rows
// 0-7 of the group (4 bytes each), bytes 32-63 rows 8-15, and the scales
// of rows 0-7 and 8-15 are the first and second 16 bytes of the block.
// A group runs as two halves of eight rows, the eight int32 lanes of a Y
// register being the eight rows. For each half, each slice of up to four
// activations and each block, the block's eight quant vectors are loaded
// (and decoded to unsigned levels) into Y0-Y7 once, then every activation
// of the slice runs against them. Integer block sums are exact; the
// float32 operations per (row, activation) are dot.go's, in block order,
// so the results equal the row kernels bit for bit.
//
// AVX-VNNI (the VEX form of VPDPBUSD on 256-bit registers, Intel 12th
// generation and later): as the AVX-512 kernels, unsigned levels times
// the activation's signed 4-byte groups, summed into int32 without
// saturation; the accumulator starts at -bias·Σa.
//
// AVX2 without VNNI: VPMADDUBSW multiplies unsigned by signed bytes and
// adds pairs into int16 with saturation, so only levels below 128 are
// exact there. The Q4_0 and Q5_0 levels (0..15, 0..31) are; a Q8_0 level
// (w+128, 0..255) is split into its nibbles (ul and uh, w+128 = 16·uh+ul),
// each multiplied exactly, and VPMADDWD with 1 and 16 brings the int16
// pairs to int32: uh's nibbles wait in a stack buffer.

DATA pv32nib<>+0(SB)/4, $0x0f0f0f0f
GLOBL pv32nib<>(SB), RODATA|NOPTR, $4

DATA pv32bit4<>+0(SB)/4, $0x10101010
GLOBL pv32bit4<>(SB), RODATA|NOPTR, $4

// VPDPBUSDY(d, u, s) is VPDPBUSD Ys, Yu, Yd in its VEX encoding
// (VEX.256.66.0F38.W0 50 /r, AVX-VNNI), which the Go assembler lacks:
// Yd += the dot products of Yu's unsigned bytes with Ys's signed ones.
#define VPDPBUSDY(d, u, s) \
	BYTE $0xc4; BYTE $(0x42 | ((1-((d)>>3))<<7) | ((1-((s)>>3))<<5)); BYTE $(((15-(u))<<3) | 0x05); BYTE $0x50; BYTE $(0xc0 | (((d)&7)<<3) | ((s)&7))

// Registers: Y0-Y7 the half-block's levels (vector k pairs with the
// activation's bytes 4k..4k+3), Y8 the eight rows' weight scales, Y9-Y11
// scratch, Y12-Y15 the float32 sums of the slice's activations. R12
// points at the slots (q at off, d at off+8, -Σa at off+16, 32 bytes
// each), DI is 4 times the block index, SI the block, R8 the half (0 or
// 16: the scales at (SI)(R8*1), quant vector k at 32+64k(SI)(R8*2)).

// order 0 (Q8_0, Q5_0): float32(sum) * (dw*dx); order 1 (Q4_0):
// (float32(sum)*dw) * dx; the sum in Y9, dx in Y10.
#define PV32SCALE0 VMULPS Y10, Y8, Y10; VMULPS Y10, Y9, Y9
#define PV32SCALE1 VMULPS Y8, Y9, Y9; VMULPS Y10, Y9, Y9

// PV32FINISH converts the int32 sums in Y9 and adds them, scaled, to FACC.
#define PV32FINISH(doff, FACC, SCALE) \
	VCVTDQ2PS Y9, Y9 \
	MOVQ doff(R12), AX \
	VBROADCASTSS (AX)(DI*1), Y10 \
	SCALE \
	VADDPS Y9, FACC, FACC

// PV32VNNI runs slot (off) against the levels Y0-Y7 with VPDPBUSD, in
// two chains (Y9 from -bias·Σa, Y10 from 0), Y11 holding each broadcast
// 4-byte group of the activation.
#define PV32VNNI(off, doff, soff, FACC, SH, SCALE) \
	MOVQ soff(R12), AX \
	VPBROADCASTD (AX)(DI*1), Y9 \
	VPSLLD $SH, Y9, Y9 \
	MOVQ off(R12), AX \
	VPXOR Y10, Y10, Y10 \
	VPBROADCASTD (AX)(DI*8), Y11 \
	VPDPBUSDY(9, 0, 11) \
	VPBROADCASTD 4(AX)(DI*8), Y11 \
	VPDPBUSDY(10, 1, 11) \
	VPBROADCASTD 8(AX)(DI*8), Y11 \
	VPDPBUSDY(9, 2, 11) \
	VPBROADCASTD 12(AX)(DI*8), Y11 \
	VPDPBUSDY(10, 3, 11) \
	VPBROADCASTD 16(AX)(DI*8), Y11 \
	VPDPBUSDY(9, 4, 11) \
	VPBROADCASTD 20(AX)(DI*8), Y11 \
	VPDPBUSDY(10, 5, 11) \
	VPBROADCASTD 24(AX)(DI*8), Y11 \
	VPDPBUSDY(9, 6, 11) \
	VPBROADCASTD 28(AX)(DI*8), Y11 \
	VPDPBUSDY(10, 7, 11) \
	VPADDD Y10, Y9, Y9 \
	PV32FINISH(doff, FACC, SCALE)

DATA pv32ones<>+0(SB)/8, $0x0001000100010001
DATA pv32ones<>+8(SB)/8, $0x0001000100010001
DATA pv32ones<>+16(SB)/8, $0x0001000100010001
DATA pv32ones<>+24(SB)/8, $0x0001000100010001
GLOBL pv32ones<>(SB), RODATA|NOPTR, $32

DATA pv32sixteens<>+0(SB)/8, $0x0010001000100010
DATA pv32sixteens<>+8(SB)/8, $0x0010001000100010
DATA pv32sixteens<>+16(SB)/8, $0x0010001000100010
DATA pv32sixteens<>+24(SB)/8, $0x0010001000100010
GLOBL pv32sixteens<>(SB), RODATA|NOPTR, $32

// PV32AVX2 runs slot (off) against the levels Y0-Y7 (at most 31) with
// VPMADDUBSW: a pair of products is at most 2·31·128 in magnitude, so the
// int16 sums of two vectors' pairs are exact (2·7936 < 2^15); VPMADDWD by
// ones adds them into int32 lanes per row. The sum starts at -bias·Σa.
#define PV32AVX2(off, doff, soff, FACC, SH, SCALE) \
	MOVQ soff(R12), AX \
	VPBROADCASTD (AX)(DI*1), Y9 \
	VPSLLD $SH, Y9, Y9 \
	MOVQ off(R12), AX \
	VPBROADCASTD 0(AX)(DI*8), Y11 \
	VPMADDUBSW Y11, Y0, Y10 \
	VPBROADCASTD 4(AX)(DI*8), Y11 \
	VPMADDUBSW Y11, Y1, Y11 \
	VPADDW Y11, Y10, Y10 \
	VPMADDWD pv32ones<>(SB), Y10, Y10 \
	VPADDD Y10, Y9, Y9 \
	VPBROADCASTD 8(AX)(DI*8), Y11 \
	VPMADDUBSW Y11, Y2, Y10 \
	VPBROADCASTD 12(AX)(DI*8), Y11 \
	VPMADDUBSW Y11, Y3, Y11 \
	VPADDW Y11, Y10, Y10 \
	VPMADDWD pv32ones<>(SB), Y10, Y10 \
	VPADDD Y10, Y9, Y9 \
	VPBROADCASTD 16(AX)(DI*8), Y11 \
	VPMADDUBSW Y11, Y4, Y10 \
	VPBROADCASTD 20(AX)(DI*8), Y11 \
	VPMADDUBSW Y11, Y5, Y11 \
	VPADDW Y11, Y10, Y10 \
	VPMADDWD pv32ones<>(SB), Y10, Y10 \
	VPADDD Y10, Y9, Y9 \
	VPBROADCASTD 24(AX)(DI*8), Y11 \
	VPMADDUBSW Y11, Y6, Y10 \
	VPBROADCASTD 28(AX)(DI*8), Y11 \
	VPMADDUBSW Y11, Y7, Y11 \
	VPADDW Y11, Y10, Y10 \
	VPMADDWD pv32ones<>(SB), Y10, Y10 \
	VPADDD Y10, Y9, Y9 \
	PV32FINISH(doff, FACC, SCALE)

// PV32Q8AVX2 runs slot (off) against a Q8_0 half-block: the low nibbles
// of the levels in Y0-Y7, the high ones at 32k(SP). Each VPMADDUBSW pair
// is at most 2·15·128 in magnitude, so the int16 sums over the block's
// eight vectors stay exact (8·3840 < 2^15): Y9 sums the low products, Y10
// the high ones; VPMADDWD by 1 and 16 weighs them into int32, and the
// bias 128·Σa comes off. Y8 receives the scales last.
#define PV32Q8AVX2(off, doff, soff, FACC) \
	MOVQ off(R12), AX \
	VPBROADCASTD (AX)(DI*8), Y11 \
	VMOVDQU (SP), Y8 \
	VPMADDUBSW Y11, Y8, Y8 \
	VPMADDUBSW Y11, Y0, Y9 \
	VMOVDQA Y8, Y10 \
	VPBROADCASTD 4(AX)(DI*8), Y11 \
	VMOVDQU 32(SP), Y8 \
	VPMADDUBSW Y11, Y8, Y8 \
	VPMADDUBSW Y11, Y1, Y11 \
	VPADDW Y8, Y10, Y10 \
	VPADDW Y11, Y9, Y9 \
	VPBROADCASTD 8(AX)(DI*8), Y11 \
	VMOVDQU 64(SP), Y8 \
	VPMADDUBSW Y11, Y8, Y8 \
	VPMADDUBSW Y11, Y2, Y11 \
	VPADDW Y8, Y10, Y10 \
	VPADDW Y11, Y9, Y9 \
	VPBROADCASTD 12(AX)(DI*8), Y11 \
	VMOVDQU 96(SP), Y8 \
	VPMADDUBSW Y11, Y8, Y8 \
	VPMADDUBSW Y11, Y3, Y11 \
	VPADDW Y8, Y10, Y10 \
	VPADDW Y11, Y9, Y9 \
	VPBROADCASTD 16(AX)(DI*8), Y11 \
	VMOVDQU 128(SP), Y8 \
	VPMADDUBSW Y11, Y8, Y8 \
	VPMADDUBSW Y11, Y4, Y11 \
	VPADDW Y8, Y10, Y10 \
	VPADDW Y11, Y9, Y9 \
	VPBROADCASTD 20(AX)(DI*8), Y11 \
	VMOVDQU 160(SP), Y8 \
	VPMADDUBSW Y11, Y8, Y8 \
	VPMADDUBSW Y11, Y5, Y11 \
	VPADDW Y8, Y10, Y10 \
	VPADDW Y11, Y9, Y9 \
	VPBROADCASTD 24(AX)(DI*8), Y11 \
	VMOVDQU 192(SP), Y8 \
	VPMADDUBSW Y11, Y8, Y8 \
	VPMADDUBSW Y11, Y6, Y11 \
	VPADDW Y8, Y10, Y10 \
	VPADDW Y11, Y9, Y9 \
	VPBROADCASTD 28(AX)(DI*8), Y11 \
	VMOVDQU 224(SP), Y8 \
	VPMADDUBSW Y11, Y8, Y8 \
	VPMADDUBSW Y11, Y7, Y11 \
	VPADDW Y8, Y10, Y10 \
	VPADDW Y11, Y9, Y9 \
	VPMADDWD pv32ones<>(SB), Y9, Y9 \
	VPMADDWD pv32sixteens<>(SB), Y10, Y10 \
	VPADDD Y10, Y9, Y9 \
	MOVQ soff(R12), AX \
	VPBROADCASTD (AX)(DI*1), Y10 \
	VPSLLD $7, Y10, Y10 \
	VPADDD Y10, Y9, Y9 \
	VCVTPH2PS (SI)(R8*1), Y8 \
	PV32FINISH(doff, FACC, PV32SCALE0)

// PV32ACTS runs the R13 (1..4) activation slots against the half-block
// with ACT(off, doff, soff, FACC, ARGS).
#define PV32ACTS(ACT, done) \
	ACT(0, 8, 16, Y12) \
	CMPQ R13, $1 \
	JEQ done \
	ACT(32, 40, 48, Y13) \
	CMPQ R13, $2 \
	JEQ done \
	ACT(64, 72, 80, Y14) \
	CMPQ R13, $3 \
	JEQ done \
	ACT(96, 104, 112, Y15)

// PV32STORE writes the eight sums of slot i (FACC) to its output row
// pointer (at off in the slot) plus R9, unless the slice has only i slots.
#define PV32STORE(i, off, FACC, done) \
	CMPQ R13, $i \
	JEQ done \
	MOVQ off(R12), AX \
	VMOVUPS FACC, (AX)(R9*1)

// PV32PF prefetches the weight stream BX bytes ahead of SI, n lines.
#define PV32PF5 \
	PREFETCHT0 (SI)(BX*1) \
	PREFETCHT0 64(SI)(BX*1) \
	PREFETCHT0 128(SI)(BX*1) \
	PREFETCHT0 192(SI)(BX*1) \
	PREFETCHT0 256(SI)(BX*1)

#define PV32PF6 \
	PV32PF5 \
	PREFETCHT0 320(SI)(BX*1)

#define PV32PF9 \
	PV32PF6 \
	PREFETCHT0 384(SI)(BX*1) \
	PREFETCHT0 448(SI)(BX*1) \
	PREFETCHT0 512(SI)(BX*1)

// Half-block loads: the scales into Y8 and the levels into Y0-Y7.
// PV32Q8LOAD: Q8_0's levels as stored (w+128).
#define PV32Q8LOAD \
	VCVTPH2PS (SI)(R8*1), Y8 \
	VMOVDQU 32(SI)(R8*2), Y0 \
	VMOVDQU 96(SI)(R8*2), Y1 \
	VMOVDQU 160(SI)(R8*2), Y2 \
	VMOVDQU 224(SI)(R8*2), Y3 \
	VMOVDQU 288(SI)(R8*2), Y4 \
	VMOVDQU 352(SI)(R8*2), Y5 \
	VMOVDQU 416(SI)(R8*2), Y6 \
	VMOVDQU 480(SI)(R8*2), Y7

// PV32Q8SPLIT: Q8_0's levels split into nibbles, the low ones in Y0-Y7,
// the high ones at 32k(SP) (Y8, Y9 scratch; the scales are read later).
#define PV32Q8SPLIT \
	VPBROADCASTD pv32nib<>(SB), Y9 \
	VMOVDQU 32(SI)(R8*2), Y0 \
	VPSRLW $4, Y0, Y8 \
	VPAND Y9, Y8, Y8 \
	VPAND Y9, Y0, Y0 \
	VMOVDQU Y8, (SP) \
	VMOVDQU 96(SI)(R8*2), Y1 \
	VPSRLW $4, Y1, Y8 \
	VPAND Y9, Y8, Y8 \
	VPAND Y9, Y1, Y1 \
	VMOVDQU Y8, 32(SP) \
	VMOVDQU 160(SI)(R8*2), Y2 \
	VPSRLW $4, Y2, Y8 \
	VPAND Y9, Y8, Y8 \
	VPAND Y9, Y2, Y2 \
	VMOVDQU Y8, 64(SP) \
	VMOVDQU 224(SI)(R8*2), Y3 \
	VPSRLW $4, Y3, Y8 \
	VPAND Y9, Y8, Y8 \
	VPAND Y9, Y3, Y3 \
	VMOVDQU Y8, 96(SP) \
	VMOVDQU 288(SI)(R8*2), Y4 \
	VPSRLW $4, Y4, Y8 \
	VPAND Y9, Y8, Y8 \
	VPAND Y9, Y4, Y4 \
	VMOVDQU Y8, 128(SP) \
	VMOVDQU 352(SI)(R8*2), Y5 \
	VPSRLW $4, Y5, Y8 \
	VPAND Y9, Y8, Y8 \
	VPAND Y9, Y5, Y5 \
	VMOVDQU Y8, 160(SP) \
	VMOVDQU 416(SI)(R8*2), Y6 \
	VPSRLW $4, Y6, Y8 \
	VPAND Y9, Y8, Y8 \
	VPAND Y9, Y6, Y6 \
	VMOVDQU Y8, 192(SP) \
	VMOVDQU 480(SI)(R8*2), Y7 \
	VPSRLW $4, Y7, Y8 \
	VPAND Y9, Y8, Y8 \
	VPAND Y9, Y7, Y7 \
	VMOVDQU Y8, 224(SP)

// PV32Q4LOAD: nibble vector m gives the low nibbles (Ym, elements
// 4m..4m+3) and the high ones (Y(4+m), elements 16+4m..16+4m+3); Y11
// holds the mask.
#define PV32Q4LOAD \
	VCVTPH2PS (SI)(R8*1), Y8 \
	VPBROADCASTD pv32nib<>(SB), Y11 \
	VMOVDQU 32(SI)(R8*2), Y0 \
	VPSRLW $4, Y0, Y4 \
	VPAND Y11, Y0, Y0 \
	VPAND Y11, Y4, Y4 \
	VMOVDQU 96(SI)(R8*2), Y1 \
	VPSRLW $4, Y1, Y5 \
	VPAND Y11, Y1, Y1 \
	VPAND Y11, Y5, Y5 \
	VMOVDQU 160(SI)(R8*2), Y2 \
	VPSRLW $4, Y2, Y6 \
	VPAND Y11, Y2, Y2 \
	VPAND Y11, Y6, Y6 \
	VMOVDQU 224(SI)(R8*2), Y3 \
	VPSRLW $4, Y3, Y7 \
	VPAND Y11, Y3, Y3 \
	VPAND Y11, Y7, Y7

// PV32Q5LOAD: as PV32Q4LOAD, then bit column c of the permuted high bits
// (Y9) goes to bit 4 of the levels in Yc: Yc = (Yc & 0x0f) | (Y9 shifted
// & 0x10); Y10 holds 0x10, Y11 the nibble mask.
#define PV32Q5HIGH(Z) \
	VPAND Y10, Y8, Y8 \
	VPOR Y8, Z, Z

#define PV32Q5LOAD \
	VPBROADCASTD pv32nib<>(SB), Y11 \
	VPBROADCASTD pv32bit4<>(SB), Y10 \
	VMOVDQU 32(SI)(R8*2), Y9 \
	VMOVDQU 96(SI)(R8*2), Y0 \
	VPSRLW $4, Y0, Y4 \
	VPAND Y11, Y0, Y0 \
	VPAND Y11, Y4, Y4 \
	VMOVDQU 160(SI)(R8*2), Y1 \
	VPSRLW $4, Y1, Y5 \
	VPAND Y11, Y1, Y1 \
	VPAND Y11, Y5, Y5 \
	VMOVDQU 224(SI)(R8*2), Y2 \
	VPSRLW $4, Y2, Y6 \
	VPAND Y11, Y2, Y2 \
	VPAND Y11, Y6, Y6 \
	VMOVDQU 288(SI)(R8*2), Y3 \
	VPSRLW $4, Y3, Y7 \
	VPAND Y11, Y3, Y3 \
	VPAND Y11, Y7, Y7 \
	VPSLLD $4, Y9, Y8 \
	PV32Q5HIGH(Y0) \
	VPSLLD $3, Y9, Y8 \
	PV32Q5HIGH(Y1) \
	VPSLLD $2, Y9, Y8 \
	PV32Q5HIGH(Y2) \
	VPSLLD $1, Y9, Y8 \
	PV32Q5HIGH(Y3) \
	VMOVDQA Y9, Y8 \
	PV32Q5HIGH(Y4) \
	VPSRLD $1, Y9, Y8 \
	PV32Q5HIGH(Y5) \
	VPSRLD $2, Y9, Y8 \
	PV32Q5HIGH(Y6) \
	VPSRLD $3, Y9, Y8 \
	PV32Q5HIGH(Y7) \
	VCVTPH2PS (SI)(R8*1), Y8

#define PV32Q8VNNI(off, doff, soff, FACC) PV32VNNI(off, doff, soff, FACC, 7, PV32SCALE0)
#define PV32Q4VNNI(off, doff, soff, FACC) PV32VNNI(off, doff, soff, FACC, 3, PV32SCALE1)
#define PV32Q5VNNI(off, doff, soff, FACC) PV32VNNI(off, doff, soff, FACC, 4, PV32SCALE0)
#define PV32Q4AVX2(off, doff, soff, FACC) PV32AVX2(off, doff, soff, FACC, 3, PV32SCALE1)
#define PV32Q5AVX2(off, doff, soff, FACC) PV32AVX2(off, doff, soff, FACC, 4, PV32SCALE0)

// func pk32Q8AVXVNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
// ngroups packed groups of 16 Q8_0 rows (gb bytes each, nb blocks) times
// nacts activations; slot t's output row pointer gets group g's 16 sums
// at 16g. AVX-VNNI.
TEXT ·pk32Q8AVXVNNI(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	XORQ R8, R8
half:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $4, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
block:
	TESTQ BX, BX
	JEQ loaded
	PV32PF9
loaded:
	PV32Q8LOAD
	PV32ACTS(PV32Q8VNNI, next)
next:
	ADDQ $544, SI
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PV32STORE(0, 24, Y12, stored)
	PV32STORE(1, 56, Y13, stored)
	PV32STORE(2, 88, Y14, stored)
	PV32STORE(3, 120, Y15, stored)
stored:
	ADDQ $128, R12
	SUBQ $4, R14
	JGT slice
	ADDQ $32, R9
	ADDQ $16, R8
	CMPQ R8, $32
	JLT half
	ADDQ gb+8(FP), R10
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET

// func pk32Q4AVXVNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
// pk32Q8AVXVNNI for Q4_0.
TEXT ·pk32Q4AVXVNNI(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	XORQ R8, R8
half:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $4, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
block:
	TESTQ BX, BX
	JEQ loaded
	PV32PF5
loaded:
	PV32Q4LOAD
	PV32ACTS(PV32Q4VNNI, next)
next:
	ADDQ $288, SI
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PV32STORE(0, 24, Y12, stored)
	PV32STORE(1, 56, Y13, stored)
	PV32STORE(2, 88, Y14, stored)
	PV32STORE(3, 120, Y15, stored)
stored:
	ADDQ $128, R12
	SUBQ $4, R14
	JGT slice
	ADDQ $32, R9
	ADDQ $16, R8
	CMPQ R8, $32
	JLT half
	ADDQ gb+8(FP), R10
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET

// func pk32Q5AVXVNNI(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
// pk32Q8AVXVNNI for Q5_0.
TEXT ·pk32Q5AVXVNNI(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	XORQ R8, R8
half:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $4, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
block:
	TESTQ BX, BX
	JEQ loaded
	PV32PF6
loaded:
	PV32Q5LOAD
	PV32ACTS(PV32Q5VNNI, next)
next:
	ADDQ $352, SI
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PV32STORE(0, 24, Y12, stored)
	PV32STORE(1, 56, Y13, stored)
	PV32STORE(2, 88, Y14, stored)
	PV32STORE(3, 120, Y15, stored)
stored:
	ADDQ $128, R12
	SUBQ $4, R14
	JGT slice
	ADDQ $32, R9
	ADDQ $16, R8
	CMPQ R8, $32
	JLT half
	ADDQ gb+8(FP), R10
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET

// func pk32Q8AVX2(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
// pk32Q8AVXVNNI without VNNI (AVX2).
TEXT ·pk32Q8AVX2(SB), NOSPLIT, $256-56
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	XORQ R8, R8
half:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $4, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
block:
	TESTQ BX, BX
	JEQ loaded
	PV32PF9
loaded:
	PV32Q8SPLIT
	PV32ACTS(PV32Q8AVX2, next)
next:
	ADDQ $544, SI
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PV32STORE(0, 24, Y12, stored)
	PV32STORE(1, 56, Y13, stored)
	PV32STORE(2, 88, Y14, stored)
	PV32STORE(3, 120, Y15, stored)
stored:
	ADDQ $128, R12
	SUBQ $4, R14
	JGT slice
	ADDQ $32, R9
	ADDQ $16, R8
	CMPQ R8, $32
	JLT half
	ADDQ gb+8(FP), R10
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET

// func pk32Q4AVX2(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
// pk32Q4AVXVNNI without VNNI (AVX2).
TEXT ·pk32Q4AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	XORQ R8, R8
half:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $4, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
block:
	TESTQ BX, BX
	JEQ loaded
	PV32PF5
loaded:
	PV32Q4LOAD
	PV32ACTS(PV32Q4AVX2, next)
next:
	ADDQ $288, SI
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PV32STORE(0, 24, Y12, stored)
	PV32STORE(1, 56, Y13, stored)
	PV32STORE(2, 88, Y14, stored)
	PV32STORE(3, 120, Y15, stored)
stored:
	ADDQ $128, R12
	SUBQ $4, R14
	JGT slice
	ADDQ $32, R9
	ADDQ $16, R8
	CMPQ R8, $32
	JLT half
	ADDQ gb+8(FP), R10
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET

// func pk32Q5AVX2(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
// pk32Q5AVXVNNI without VNNI (AVX2).
TEXT ·pk32Q5AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R10
	MOVQ pf+48(FP), BX
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	TESTQ R11, R11
	JEQ done
group:
	XORQ R8, R8
half:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
slice:
	MOVQ $4, R13
	CMPQ R14, R13
	CMOVQLT R14, R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
block:
	TESTQ BX, BX
	JEQ loaded
	PV32PF6
loaded:
	PV32Q5LOAD
	PV32ACTS(PV32Q5AVX2, next)
next:
	ADDQ $352, SI
	ADDQ $4, DI
	DECQ CX
	JNZ block
	PV32STORE(0, 24, Y12, stored)
	PV32STORE(1, 56, Y13, stored)
	PV32STORE(2, 88, Y14, stored)
	PV32STORE(3, 120, Y15, stored)
stored:
	ADDQ $128, R12
	SUBQ $4, R14
	JGT slice
	ADDQ $32, R9
	ADDQ $16, R8
	CMPQ R8, $32
	JLT half
	ADDQ gb+8(FP), R10
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET

// The sign-trick kernel of Q8_0 for AVX2 without VNNI (as ggml's AVX2
// Q8_0 dot product): w·a = |w|·(a·sign(w)), VPSIGNB giving a·sign(w) and
// VPMADDUBSW |w| (unsigned, at most 128) times that. A pair of products is
// at most 2·128·127 = 32512 in magnitude while the activation's quants
// stay above -128 (the caller sends batches holding a -128 to pk32Q8AVX2),
// so each VPMADDUBSW is exact; VPMADDWD by ones brings its pairs to int32
// at once. The sums are signed, so no bias comes off.

DATA pv32b80<>+0(SB)/4, $0x80808080
GLOBL pv32b80<>(SB), RODATA|NOPTR, $4

// PV32Q8ONE adds vector k's products for one half (quants at off(SI),
// the broadcast activation bytes in Y0) to ACC: signed levels by XOR 0x80
// (Y15), |w| times a·sign(w), pairs to int32 by VPMADDWD with ones (Y14).
#define PV32Q8ONE(off, YW, YM, ACC) \
	VMOVDQU off(SI), YW \
	VPXOR Y15, YW, YW \
	VPABSB YW, YM \
	VPSIGNB YW, Y0, YW \
	VPMADDUBSW YW, YM, YW \
	VPMADDWD Y14, YW, YW \
	VPADDD YW, ACC, ACC

// PV32Q8ONEK runs vector k (activation bytes at aoff, the halves' quants
// at off and off+32) for both halves.
#define PV32Q8ONEK(aoff, off) \
	VPBROADCASTD aoff(AX)(DI*8), Y0 \
	PV32Q8ONE(off, Y1, Y2, Y10) \
	PV32Q8ONE(off+32, Y3, Y4, Y11)

// PV32Q8ONESCALE adds the half's int32 sums (ACC), scaled as dot.go does
// (float32(sum) * (dw*dx), dw from the F16 scales at soff, dx in Y7), to
// FACC.
#define PV32Q8ONESCALE(soff, ACC, FACC) \
	VCVTPH2PS soff(SI), Y5 \
	VMULPS Y7, Y5, Y5 \
	VCVTDQ2PS ACC, ACC \
	VMULPS Y5, ACC, ACC \
	VADDPS ACC, FACC, FACC

// PV32Q8TWO adds vector k's products for one half (quants at off(SI)) for
// two activations (their broadcast bytes in Y0 and Y1) to ACC0 and ACC1:
// the levels decoded once (Y2 signed, Y3 magnitudes) for both.
#define PV32Q8TWO(off, ACC0, ACC1) \
	VMOVDQU off(SI), Y2 \
	VPXOR Y15, Y2, Y2 \
	VPABSB Y2, Y3 \
	VPSIGNB Y2, Y0, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y14, Y4, Y4 \
	VPADDD Y4, ACC0, ACC0 \
	VPSIGNB Y2, Y1, Y5 \
	VPMADDUBSW Y5, Y3, Y5 \
	VPMADDWD Y14, Y5, Y5 \
	VPADDD Y5, ACC1, ACC1

// PV32Q8TWOK runs vector k (activation bytes at aoff of AX and R8) for
// both halves and both activations: int32 sums in Y10/Y11 (first
// activation, halves 0/1) and Y8/Y9 (second).
#define PV32Q8TWOK(aoff, off) \
	VPBROADCASTD aoff(AX)(DI*8), Y0 \
	VPBROADCASTD aoff(R8)(DI*8), Y1 \
	PV32Q8TWO(off, Y10, Y8) \
	PV32Q8TWO(off+32, Y11, Y9)

// PV32Q8TWOSCALE adds one (activation, half)'s int32 sums (ACC), scaled
// by dw (YW, floats) times dx (YX), to FACC (Y4 scratch).
#define PV32Q8TWOSCALE(YW, YX, ACC, FACC) \
	VMULPS YX, YW, Y4 \
	VCVTDQ2PS ACC, ACC \
	VMULPS Y4, ACC, ACC \
	VADDPS ACC, FACC, FACC

// func pk32Q8SignAVX2(w *byte, gb, ngroups, nb int, acts *pk32Act, nacts int, pf int)
// ngroups packed groups of 16 Q8_0 rows (gb bytes each, nb blocks) times
// nacts activations whose quants are all above -128; slot t's output row
// pointer gets group g's 16 sums at 16g. A group's rows run against two
// activations at a time (then one, if one is left), both halves at once:
// each activation's bytes are broadcast once for the 16 rows, and the
// levels, decoded in registers from the group's bytes (which stay in L1
// from one pair to the next), serve both activations. The first pass over
// a group prefetches the weight stream pf bytes ahead (0: off).
TEXT ·pk32Q8SignAVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), R10
	MOVQ ngroups+16(FP), R11
	XORQ R9, R9
	VPBROADCASTD pv32b80<>(SB), Y15
	VMOVDQU pv32ones<>(SB), Y14
	TESTQ R11, R11
	JEQ done
group:
	MOVQ acts+32(FP), R12
	MOVQ nacts+40(FP), R14
	MOVQ pf+48(FP), BX
pair:
	CMPQ R14, $2
	JLT single
	MOVQ 0(R12), AX
	MOVQ 8(R12), DX
	MOVQ 32(R12), R8
	MOVQ 40(R12), R13
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
pblock:
	TESTQ BX, BX
	JEQ ploaded
	PV32PF9
ploaded:
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	PV32Q8TWOK(0, 32)
	PV32Q8TWOK(4, 96)
	PV32Q8TWOK(8, 160)
	PV32Q8TWOK(12, 224)
	PV32Q8TWOK(16, 288)
	PV32Q8TWOK(20, 352)
	PV32Q8TWOK(24, 416)
	PV32Q8TWOK(28, 480)
	VBROADCASTSS (DX)(DI*1), Y0
	VBROADCASTSS (R13)(DI*1), Y1
	VCVTPH2PS 0(SI), Y2
	VCVTPH2PS 16(SI), Y3
	PV32Q8TWOSCALE(Y2, Y0, Y10, Y12)
	PV32Q8TWOSCALE(Y3, Y0, Y11, Y13)
	PV32Q8TWOSCALE(Y2, Y1, Y8, Y6)
	PV32Q8TWOSCALE(Y3, Y1, Y9, Y7)
	ADDQ $544, SI
	ADDQ $4, DI
	DECQ CX
	JNZ pblock
	MOVQ 24(R12), AX
	VMOVUPS Y12, (AX)(R9*1)
	VMOVUPS Y13, 32(AX)(R9*1)
	MOVQ 56(R12), AX
	VMOVUPS Y6, (AX)(R9*1)
	VMOVUPS Y7, 32(AX)(R9*1)
	XORQ BX, BX
	ADDQ $64, R12
	SUBQ $2, R14
	JMP pair
single:
	TESTQ R14, R14
	JEQ gdone
	MOVQ 0(R12), AX
	MOVQ 8(R12), DX
	MOVQ R10, SI
	XORQ DI, DI
	MOVQ nb+24(FP), CX
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
block:
	TESTQ BX, BX
	JEQ loaded
	PV32PF9
loaded:
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	PV32Q8ONEK(0, 32)
	PV32Q8ONEK(4, 96)
	PV32Q8ONEK(8, 160)
	PV32Q8ONEK(12, 224)
	PV32Q8ONEK(16, 288)
	PV32Q8ONEK(20, 352)
	PV32Q8ONEK(24, 416)
	PV32Q8ONEK(28, 480)
	VBROADCASTSS (DX)(DI*1), Y7
	PV32Q8ONESCALE(0, Y10, Y12)
	PV32Q8ONESCALE(16, Y11, Y13)
	ADDQ $544, SI
	ADDQ $4, DI
	DECQ CX
	JNZ block
	MOVQ 24(R12), R8
	VMOVUPS Y12, (R8)(R9*1)
	VMOVUPS Y13, 32(R8)(R9*1)
gdone:
	ADDQ $64, R9
	ADDQ gb+8(FP), R10
	DECQ R11
	JNZ group
done:
	VZEROUPPER
	RET
