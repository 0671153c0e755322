//go:build !noasm && amd64

#include "textflag.h"

// Matrix kernels for the 32-element block types (Q8_0 directly; Q4_0 and
// Q5_0 after m32unpack* has rewritten their levels as signed bytes in
// Q8_0's block layout). Integer block sums are exact (VPDPBUSD with the
// +128 bias removed again); every (row, activation) then gets the float32
// operations of dot.go in block order, lanes being independent rows or
// activations, so results equal the row kernels bit for bit.

DATA m32b80<>+0(SB)/8, $0x8080808080808080
DATA m32b80<>+8(SB)/8, $0x8080808080808080
DATA m32b80<>+16(SB)/8, $0x8080808080808080
DATA m32b80<>+24(SB)/8, $0x8080808080808080
GLOBL m32b80<>(SB), RODATA|NOPTR, $32

DATA m32ones<>+0(SB)/8, $0x0101010101010101
DATA m32ones<>+8(SB)/8, $0x0101010101010101
DATA m32ones<>+16(SB)/8, $0x0101010101010101
DATA m32ones<>+24(SB)/8, $0x0101010101010101
GLOBL m32ones<>(SB), RODATA|NOPTR, $32

DATA m32nib<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA m32nib<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA m32nib<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA m32nib<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL m32nib<>(SB), RODATA|NOPTR, $32

DATA m32b08<>+0(SB)/8, $0x0808080808080808
DATA m32b08<>+8(SB)/8, $0x0808080808080808
DATA m32b08<>+16(SB)/8, $0x0808080808080808
DATA m32b08<>+24(SB)/8, $0x0808080808080808
GLOBL m32b08<>(SB), RODATA|NOPTR, $32

DATA m32b10<>+0(SB)/8, $0x1010101010101010
DATA m32b10<>+8(SB)/8, $0x1010101010101010
DATA m32b10<>+16(SB)/8, $0x1010101010101010
DATA m32b10<>+24(SB)/8, $0x1010101010101010
GLOBL m32b10<>(SB), RODATA|NOPTR, $32

DATA m32bitshuf<>+0(SB)/8, $0x0000000000000000
DATA m32bitshuf<>+8(SB)/8, $0x0101010101010101
DATA m32bitshuf<>+16(SB)/8, $0x0202020202020202
DATA m32bitshuf<>+24(SB)/8, $0x0303030303030303
GLOBL m32bitshuf<>(SB), RODATA|NOPTR, $32

DATA m32bitsel<>+0(SB)/8, $0x8040201008040201
DATA m32bitsel<>+8(SB)/8, $0x8040201008040201
DATA m32bitsel<>+16(SB)/8, $0x8040201008040201
DATA m32bitsel<>+24(SB)/8, $0x8040201008040201
GLOBL m32bitsel<>(SB), RODATA|NOPTR, $32

// M32REDUCE8 turns the eight int32 vectors Y0..Y7 into the vector of their
// eight horizontal sums in Y0 (lane r = sum of Yr; clobbers Y1-Y7).
#define M32REDUCE8 \
	VPHADDD Y1, Y0, Y0 \
	VPHADDD Y3, Y2, Y2 \
	VPHADDD Y5, Y4, Y4 \
	VPHADDD Y7, Y6, Y6 \
	VPHADDD Y2, Y0, Y0 \
	VPHADDD Y6, Y4, Y4 \
	VPERM2I128 $0x20, Y4, Y0, Y1 \
	VPERM2I128 $0x31, Y4, Y0, Y2 \
	VPADDD Y2, Y1, Y0

// M32ACT does one activation (pointers at qoff/doff(R12)) against the eight
// prepared weight rows Y16-Y23 of the current block: exact int32 block
// sums, one per row, then facc += float32(sum) * (dw*dx) (SCALE0) or
// (float32(sum)*dw)*dx (SCALE1), dw per row in Y30.
#define M32ACT(qoff, doff, FACC, SCALE) \
	MOVQ qoff(R12), AX \
	VMOVDQU (AX)(DI*8), Y8 \
	VPXOR Y9, Y9, Y9 \
	VPDPBUSD Y8, Y24, Y9 \
	VPXOR Y10, Y10, Y10 \
	VPSUBD Y9, Y10, Y9 \
	VMOVDQA Y9, Y0 \
	VMOVDQA Y9, Y1 \
	VMOVDQA Y9, Y2 \
	VMOVDQA Y9, Y3 \
	VMOVDQA Y9, Y4 \
	VMOVDQA Y9, Y5 \
	VMOVDQA Y9, Y6 \
	VMOVDQA Y9, Y7 \
	VPDPBUSD Y8, Y16, Y0 \
	VPDPBUSD Y8, Y17, Y1 \
	VPDPBUSD Y8, Y18, Y2 \
	VPDPBUSD Y8, Y19, Y3 \
	VPDPBUSD Y8, Y20, Y4 \
	VPDPBUSD Y8, Y21, Y5 \
	VPDPBUSD Y8, Y22, Y6 \
	VPDPBUSD Y8, Y23, Y7 \
	M32REDUCE8 \
	VCVTDQ2PS Y0, Y0 \
	MOVQ doff(R12), AX \
	VBROADCASTSS (AX)(DI*1), Y1 \
	SCALE \
	VADDPS Y0, FACC, FACC

#define M32SCALE0 VMULPS Y1, Y30, Y1; VMULPS Y1, Y0, Y0
#define M32SCALE1 VMULPS Y30, Y0, Y0; VMULPS Y1, Y0, Y0

// M32SCALES8 collects the F16 scales of the current block of the eight
// rows in X11 (scalar loads of lines the row loads touch anyway).
#define M32SCALES8 \
	MOVWLZX (SI), AX \
	VMOVD AX, X11 \
	MOVWLZX (SI)(BX*1), AX \
	VPINSRW $1, AX, X11, X11 \
	MOVWLZX (SI)(BX*2), AX \
	VPINSRW $2, AX, X11, X11 \
	MOVWLZX (DX), AX \
	VPINSRW $3, AX, X11, X11 \
	MOVWLZX (SI)(BX*4), AX \
	VPINSRW $4, AX, X11, X11 \
	MOVWLZX (DX)(BX*2), AX \
	VPINSRW $5, AX, X11, X11 \
	MOVWLZX (DX)(R9*1), AX \
	VPINSRW $6, AX, X11, X11 \
	MOVWLZX (DX)(BX*4), AX \
	VPINSRW $7, AX, X11, X11

// M32ROWSBLOCK loads and biases block DI/4 of the eight rows, collects
// their scales, and runs the nt (R13) activations.
#define M32ROWSBLOCK(SCALE, done) \
	VPXORD 2(SI), Y24, Y16 \
	VPXORD 2(SI)(BX*1), Y24, Y17 \
	VPXORD 2(SI)(BX*2), Y24, Y18 \
	VPXORD 2(DX), Y24, Y19 \
	VPXORD 2(SI)(BX*4), Y24, Y20 \
	VPXORD 2(DX)(BX*2), Y24, Y21 \
	VPXORD 2(DX)(R9*1), Y24, Y22 \
	VPXORD 2(DX)(BX*4), Y24, Y23 \
	M32SCALES8 \
	VCVTPH2PS X11, Y30 \
	M32ACT(0, 32, Y26, SCALE) \
	CMPQ R13, $1 \
	JEQ done \
	M32ACT(8, 40, Y27, SCALE) \
	CMPQ R13, $2 \
	JEQ done \
	M32ACT(16, 48, Y28, SCALE) \
	CMPQ R13, $3 \
	JEQ done \
	M32ACT(24, 56, Y29, SCALE)

// M32PREFETCH prefetches the next pfstep bytes (at most 320) of the rows
// that a later call will read, from R8 on: eight short rows read side by
// side are too short a stream for the hardware prefetchers.
#define M32PREFETCH \
	PREFETCHT0 (R8) \
	PREFETCHT0 64(R8) \
	PREFETCHT0 128(R8) \
	PREFETCHT0 192(R8) \
	PREFETCHT0 256(R8) \
	ADDQ R10, R8

// func m32RowsVNNI(w *byte, rs int, nb int, acts *m32Acts, nt int, order int, out *[4][8]float32, pf uintptr, pfstep int)
// Eight rows (w, w+rs, ..., Q8_0 layout: F16 scale, 32 int8) times nt
// (1..4) activations; out[t][r] is the dot product of row r and activation t.
// Each block also prefetches pfstep bytes from pf on.
TEXT ·m32RowsVNNI(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), BX
	MOVQ nb+16(FP), CX
	MOVQ acts+24(FP), R12
	MOVQ nt+32(FP), R13
	MOVQ order+40(FP), R10
	MOVQ out+48(FP), R11
	MOVQ pf+56(FP), R8
	LEAQ (BX)(BX*2), R9
	LEAQ (SI)(R9*1), DX
	VMOVDQU32 m32b80<>(SB), Y24
	VPXORD Y26, Y26, Y26
	VPXORD Y27, Y27, Y27
	VPXORD Y28, Y28, Y28
	VPXORD Y29, Y29, Y29
	XORQ DI, DI
	TESTQ CX, CX
	JEQ rowsdone
	TESTQ R10, R10
	MOVQ pfstep+64(FP), R10   // keeps the flags
	JNE rows1
rows0:
	M32PREFETCH
	M32ROWSBLOCK(M32SCALE0, next0)
next0:
	ADDQ $34, SI
	ADDQ $34, DX
	ADDQ $4, DI
	DECQ CX
	JNZ rows0
	JMP rowsdone
rows1:
	M32PREFETCH
	M32ROWSBLOCK(M32SCALE1, next1)
next1:
	ADDQ $34, SI
	ADDQ $34, DX
	ADDQ $4, DI
	DECQ CX
	JNZ rows1
rowsdone:
	VMOVUPS Y26, 0(R11)
	VMOVUPS Y27, 32(R11)
	VMOVUPS Y28, 64(R11)
	VMOVUPS Y29, 96(R11)
	VZEROUPPER
	RET

// M32ROW runs one weight row (base register at its current block; sw its
// -128·Σw for the block) against the 16 activations Z0-Z7 of the block:
// int32 sums into ACC, then FACC += float32(ACC) scaled as SCALE does
// (dx in Z8; YT1/ZT1 and ZT2 are temporaries).
#define M32ROW(base, sw, ACC, FACC, YT1, ZT1, ZT2, SCALE) \
	VPBROADCASTD sw, ACC \
	VPDPBUSD.BCST 2(base), Z0, ACC \
	VPDPBUSD.BCST 6(base), Z1, ACC \
	VPDPBUSD.BCST 10(base), Z2, ACC \
	VPDPBUSD.BCST 14(base), Z3, ACC \
	VPDPBUSD.BCST 18(base), Z4, ACC \
	VPDPBUSD.BCST 22(base), Z5, ACC \
	VPDPBUSD.BCST 26(base), Z6, ACC \
	VPDPBUSD.BCST 30(base), Z7, ACC \
	VPBROADCASTW (base), YT1 \
	VCVTPH2PS YT1, ZT1 \
	VCVTDQ2PS ACC, ZT2 \
	SCALE(ZT1, ZT2) \
	VADDPS ZT2, FACC, FACC

#define M32ASCALE0(T1, T2) VMULPS Z8, T1, T1; VMULPS T1, T2, T2
#define M32ASCALE1(T1, T2) VMULPS T1, T2, T2; VMULPS Z8, T2, T2

#define M32ACTSBLOCK(SCALE) \
	VMOVDQU32 0(DI), Z0 \
	VMOVDQU32 64(DI), Z1 \
	VMOVDQU32 128(DI), Z2 \
	VMOVDQU32 192(DI), Z3 \
	VMOVDQU32 256(DI), Z4 \
	VMOVDQU32 320(DI), Z5 \
	VMOVDQU32 384(DI), Z6 \
	VMOVDQU32 448(DI), Z7 \
	VMOVUPS (R11), Z8 \
	M32ROW(SI, (R8), Z12, Z16, Y20, Z20, Z24, SCALE) \
	M32ROW(BX, (R8)(R9*1), Z13, Z17, Y21, Z21, Z25, SCALE) \
	M32ROW(DX, (R8)(R9*2), Z14, Z18, Y22, Z22, Z26, SCALE) \
	M32ROW(AX, (R13), Z15, Z19, Y23, Z23, Z27, SCALE) \
	ADDQ $34, SI \
	ADDQ $34, BX \
	ADDQ $34, DX \
	ADDQ $34, AX \
	ADDQ $512, DI \
	ADDQ $64, R11 \
	ADDQ $4, R8 \
	ADDQ $4, R13

// func m32ActsVNNI(w *byte, rs int, nb int, xr *byte, xd *float32, sw *int32, order int, out *[4][16]float32, pf uintptr, pfstep int)
// Four rows times 16 activations repacked by m32Repack (xr: per block,
// eight vectors of 16 lanes × 4 bytes, activation bytes +128; xd: per
// block the 16 scales); sw holds -128·Σw per row and block ([4][nb]).
// out[r][t] is the dot product of row r and lane t. Each block prefetches
// pfstep (at most 192) bytes from pf on.
TEXT ·m32ActsVNNI(SB), NOSPLIT, $0-80
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), AX
	MOVQ nb+16(FP), CX
	MOVQ xr+24(FP), DI
	MOVQ xd+32(FP), R11
	MOVQ sw+40(FP), R8
	MOVQ order+48(FP), R10
	MOVQ pf+64(FP), R12
	LEAQ (SI)(AX*1), BX       // row 1
	LEAQ (SI)(AX*2), DX       // row 2
	ADDQ DX, AX               // row 3
	MOVQ CX, R9
	SHLQ $2, R9               // sw row stride
	LEAQ (R9)(R9*2), R13
	ADDQ R8, R13              // sw row 3
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	TESTQ CX, CX
	JEQ actsdone
	TESTQ R10, R10
	MOVQ pfstep+72(FP), R10   // keeps the flags
	JNE acts1
acts0:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 128(R12)
	ADDQ R10, R12
	M32ACTSBLOCK(M32ASCALE0)
	DECQ CX
	JNZ acts0
	JMP actsdone
acts1:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	PREFETCHT0 128(R12)
	ADDQ R10, R12
	M32ACTSBLOCK(M32ASCALE1)
	DECQ CX
	JNZ acts1
actsdone:
	MOVQ out+56(FP), R12
	VMOVUPS Z16, 0(R12)
	VMOVUPS Z17, 64(R12)
	VMOVUPS Z18, 128(R12)
	VMOVUPS Z19, 192(R12)
	VZEROUPPER
	RET

// func m32SumW(w *byte, stride int, nb int, out *int32)
// out[b] = -128 · Σ_j int8(w[b*stride+2+j]), j < 32: the bias that
// m32ActsVNNI removes from each block sum.
TEXT ·m32SumW(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), DX
	VMOVDQU m32ones<>(SB), Y15
	VPXOR Y14, Y14, Y14
sw8:
	CMPQ CX, $8
	JLT swtail
	VPXOR Y0, Y0, Y0
	VPDPBUSD 2(SI), Y15, Y0
	ADDQ BX, SI
	VPXOR Y1, Y1, Y1
	VPDPBUSD 2(SI), Y15, Y1
	ADDQ BX, SI
	VPXOR Y2, Y2, Y2
	VPDPBUSD 2(SI), Y15, Y2
	ADDQ BX, SI
	VPXOR Y3, Y3, Y3
	VPDPBUSD 2(SI), Y15, Y3
	ADDQ BX, SI
	VPXOR Y4, Y4, Y4
	VPDPBUSD 2(SI), Y15, Y4
	ADDQ BX, SI
	VPXOR Y5, Y5, Y5
	VPDPBUSD 2(SI), Y15, Y5
	ADDQ BX, SI
	VPXOR Y6, Y6, Y6
	VPDPBUSD 2(SI), Y15, Y6
	ADDQ BX, SI
	VPXOR Y7, Y7, Y7
	VPDPBUSD 2(SI), Y15, Y7
	ADDQ BX, SI
	M32REDUCE8
	VPSLLD $7, Y0, Y0
	VPSUBD Y0, Y14, Y0
	VMOVDQU Y0, (DX)
	ADDQ $32, DX
	SUBQ $8, CX
	JMP sw8
swtail:
	TESTQ CX, CX
	JEQ swdone
swloop:
	VPXOR Y0, Y0, Y0
	VPDPBUSD 2(SI), Y15, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VPSLLD $7, X0, X0
	VPSUBD X0, X14, X0
	VMOVD X0, (DX)
	ADDQ $4, DX
	ADDQ BX, SI
	DECQ CX
	JNZ swloop
swdone:
	VZEROUPPER
	RET

// func m32UnpackQ4_0(src *byte, stride int, nb int, dst *byte)
// Rewrites nb Q4_0 blocks (stride bytes apart) as Q8_0-layout blocks of 34
// bytes: the same F16 scale, then the 32 levels minus 8 as int8.
TEXT ·m32UnpackQ4_0(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ nb+16(FP), CX
	MOVQ dst+24(FP), DI
	VMOVDQU m32nib<>(SB), X6
	VMOVDQU m32b08<>(SB), Y7
	TESTQ CX, CX
	JEQ u4done
u4loop:
	MOVWLZX (SI), AX
	MOVW AX, (DI)
	VMOVDQU 2(SI), X4
	VPAND X6, X4, X5
	VPSRLW $4, X4, X4
	VPAND X6, X4, X4
	VINSERTI128 $1, X4, Y5, Y5
	VPSUBB Y7, Y5, Y5
	VMOVDQU Y5, 2(DI)
	ADDQ BX, SI
	ADDQ $34, DI
	DECQ CX
	JNZ u4loop
u4done:
	VZEROUPPER
	RET

// func m32UnpackQ5_0(src *byte, stride int, nb int, dst *byte)
// Q5_0 blocks (F16 scale, 4 bytes of fifth bits, 16 nibble bytes) as
// Q8_0-layout blocks: levels minus 16 as int8.
TEXT ·m32UnpackQ5_0(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ nb+16(FP), CX
	MOVQ dst+24(FP), DI
	VMOVDQU m32nib<>(SB), X6
	VMOVDQU m32b10<>(SB), Y8
	VMOVDQU m32bitshuf<>(SB), Y9
	VMOVDQU m32bitsel<>(SB), Y10
	TESTQ CX, CX
	JEQ u5done
u5loop:
	MOVWLZX (SI), AX
	MOVW AX, (DI)
	VMOVDQU 6(SI), X4
	VPAND X6, X4, X5
	VPSRLW $4, X4, X4
	VPAND X6, X4, X4
	VINSERTI128 $1, X4, Y5, Y5
	VPBROADCASTD 2(SI), Y7
	VPSHUFB Y9, Y7, Y7
	VPAND Y10, Y7, Y7
	VPCMPEQB Y10, Y7, Y7
	VPAND Y8, Y7, Y7
	VPOR Y7, Y5, Y5
	VPSUBB Y8, Y5, Y5
	VMOVDQU Y5, 2(DI)
	ADDQ BX, SI
	ADDQ $34, DI
	DECQ CX
	JNZ u5loop
u5done:
	VZEROUPPER
	RET

// func m32RepackAct(q *int8, d *float32, nb int, xr *byte, xd *float32)
// Writes one activation (nb Q8_0 blocks: quants q, scales d) into its
// lane of a repacked group: dword k of block b, plus 128 per byte, goes
// to xr[b*512 + k*64] and the scale to xd[b*16] (xr and xd already point
// at the lane).
TEXT ·m32RepackAct(SB), NOSPLIT, $0-40
	MOVQ q+0(FP), SI
	MOVQ d+8(FP), R8
	MOVQ nb+16(FP), CX
	MOVQ xr+24(FP), DI
	MOVQ xd+32(FP), R9
	VMOVDQU m32b80<>(SB), Y15
	TESTQ CX, CX
	JEQ rpdone
rploop:
	VPXOR (SI), Y15, Y0
	VEXTRACTI128 $1, Y0, X1
	VMOVD X0, 0(DI)
	VPEXTRD $1, X0, 64(DI)
	VPEXTRD $2, X0, 128(DI)
	VPEXTRD $3, X0, 192(DI)
	VMOVD X1, 256(DI)
	VPEXTRD $1, X1, 320(DI)
	VPEXTRD $2, X1, 384(DI)
	VPEXTRD $3, X1, 448(DI)
	MOVL (R8), AX
	MOVL AX, (R9)
	ADDQ $32, SI
	ADDQ $4, R8
	ADDQ $512, DI
	ADDQ $64, R9
	DECQ CX
	JNZ rploop
rpdone:
	VZEROUPPER
	RET

// M32ROW2 adds the products of one weight row (at row, Q8_0 layout) with
// the sign-extended activation halves Y8, Y9 into ACC (AVX2 only).
#define M32ROW2(lo, hi, ACC) \
	VPMOVSXBW lo, Y10 \
	VPMADDWD Y8, Y10, ACC \
	VPMOVSXBW hi, Y10 \
	VPMADDWD Y9, Y10, Y10 \
	VPADDD Y10, ACC, ACC

// M32ACT2 is M32ACT for AVX2 without VNNI: words instead of biased bytes,
// weights reloaded per activation, dw in Y11.
#define M32ACT2(qoff, doff, FACC, SCALE) \
	MOVQ qoff(R12), AX \
	VPMOVSXBW (AX)(DI*8), Y8 \
	VPMOVSXBW 16(AX)(DI*8), Y9 \
	M32ROW2(2(SI), 18(SI), Y0) \
	M32ROW2(2(SI)(BX*1), 18(SI)(BX*1), Y1) \
	M32ROW2(2(SI)(BX*2), 18(SI)(BX*2), Y2) \
	M32ROW2(2(DX), 18(DX), Y3) \
	M32ROW2(2(SI)(BX*4), 18(SI)(BX*4), Y4) \
	M32ROW2(2(DX)(BX*2), 18(DX)(BX*2), Y5) \
	M32ROW2(2(DX)(R9*1), 18(DX)(R9*1), Y6) \
	M32ROW2(2(DX)(BX*4), 18(DX)(BX*4), Y7) \
	M32REDUCE8 \
	VCVTDQ2PS Y0, Y0 \
	MOVQ doff(R12), AX \
	VBROADCASTSS (AX)(DI*1), Y1 \
	SCALE \
	VADDPS Y0, FACC, FACC

#define M32SCALE20 VMULPS Y1, Y11, Y1; VMULPS Y1, Y0, Y0
#define M32SCALE21 VMULPS Y11, Y0, Y0; VMULPS Y1, Y0, Y0

#define M32ROWSBLOCK2(SCALE, done) \
	M32SCALES8 \
	VCVTPH2PS X11, Y11 \
	M32ACT2(0, 32, Y12, SCALE) \
	CMPQ R13, $1 \
	JEQ done \
	M32ACT2(8, 40, Y13, SCALE) \
	CMPQ R13, $2 \
	JEQ done \
	M32ACT2(16, 48, Y14, SCALE) \
	CMPQ R13, $3 \
	JEQ done \
	M32ACT2(24, 56, Y15, SCALE)

// func m32RowsAVX2(w *byte, rs int, nb int, acts *m32Acts, nt int, order int, out *[4][8]float32, pf uintptr, pfstep int)
// m32RowsVNNI for AVX2 machines without VNNI.
TEXT ·m32RowsAVX2(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), SI
	MOVQ rs+8(FP), BX
	MOVQ nb+16(FP), CX
	MOVQ acts+24(FP), R12
	MOVQ nt+32(FP), R13
	MOVQ order+40(FP), R10
	MOVQ pf+56(FP), R8
	LEAQ (BX)(BX*2), R9
	LEAQ (SI)(R9*1), DX
	VPXOR Y12, Y12, Y12
	VPXOR Y13, Y13, Y13
	VPXOR Y14, Y14, Y14
	VPXOR Y15, Y15, Y15
	XORQ DI, DI
	TESTQ CX, CX
	JEQ rows2done
	TESTQ R10, R10
	MOVQ pfstep+64(FP), R10   // keeps the flags
	JNE rows21
rows20:
	M32PREFETCH
	M32ROWSBLOCK2(M32SCALE20, next20)
next20:
	ADDQ $34, SI
	ADDQ $34, DX
	ADDQ $4, DI
	DECQ CX
	JNZ rows20
	JMP rows2done
rows21:
	M32PREFETCH
	M32ROWSBLOCK2(M32SCALE21, next21)
next21:
	ADDQ $34, SI
	ADDQ $34, DX
	ADDQ $4, DI
	DECQ CX
	JNZ rows21
rows2done:
	MOVQ out+48(FP), R11
	VMOVUPS Y12, 0(R11)
	VMOVUPS Y13, 32(R11)
	VMOVUPS Y14, 64(R11)
	VMOVUPS Y15, 96(R11)
	VZEROUPPER
	RET

DATA m32b70<>+0(SB)/8, $0x7070707070707070
DATA m32b70<>+8(SB)/8, $0x7070707070707070
DATA m32b70<>+16(SB)/8, $0x7070707070707070
DATA m32b70<>+24(SB)/8, $0x7070707070707070
GLOBL m32b70<>(SB), RODATA|NOPTR, $32

DATA m32b78<>+0(SB)/8, $0x7878787878787878
DATA m32b78<>+8(SB)/8, $0x7878787878787878
DATA m32b78<>+16(SB)/8, $0x7878787878787878
DATA m32b78<>+24(SB)/8, $0x7878787878787878
GLOBL m32b78<>(SB), RODATA|NOPTR, $32

// M32Q5W decodes the Q5_0 block whose fifth bits are at qh and nibbles at
// qs into its 32 levels plus 112 (= level-16+128) in YW (clobbers Y8, Y9).
#define M32Q5W(qh, qs, YW) \
	VMOVDQU qs, X8 \
	VPSRLW $4, X8, X9 \
	VINSERTI128 $1, X9, Y8, Y8 \
	VPAND m32nib<>(SB), Y8, Y8 \
	VPBROADCASTD qh, Y9 \
	VPSHUFB m32bitshuf<>(SB), Y9, Y9 \
	VPAND m32bitsel<>(SB), Y9, Y9 \
	VPCMPEQB m32bitsel<>(SB), Y9, Y9 \
	VPAND m32b10<>(SB), Y9, Y9 \
	VPOR Y9, Y8, Y8 \
	VPADDB m32b70<>(SB), Y8, YW

// M32Q4W decodes a Q4_0 block's nibbles at qs into its 32 levels plus 120
// (= level-8+128) in YW (clobbers Y8, Y9).
#define M32Q4W(qs, YW) \
	VMOVDQU qs, X8 \
	VPSRLW $4, X8, X9 \
	VINSERTI128 $1, X9, Y8, Y8 \
	VPAND m32nib<>(SB), Y8, Y8 \
	VPADDB m32b78<>(SB), Y8, YW

#define M32Q5BLOCK(done) \
	M32Q5W(2(SI), 6(SI), Y16) \
	M32Q5W(2(SI)(BX*1), 6(SI)(BX*1), Y17) \
	M32Q5W(2(SI)(BX*2), 6(SI)(BX*2), Y18) \
	M32Q5W(2(DX), 6(DX), Y19) \
	M32Q5W(2(SI)(BX*4), 6(SI)(BX*4), Y20) \
	M32Q5W(2(DX)(BX*2), 6(DX)(BX*2), Y21) \
	M32Q5W(2(DX)(R9*1), 6(DX)(R9*1), Y22) \
	M32Q5W(2(DX)(BX*4), 6(DX)(BX*4), Y23) \
	M32SCALES8 \
	VCVTPH2PS X11, Y30 \
	M32ACT(0, 32, Y26, M32SCALE0) \
	CMPQ R13, $1 \
	JEQ done \
	M32ACT(8, 40, Y27, M32SCALE0) \
	CMPQ R13, $2 \
	JEQ done \
	M32ACT(16, 48, Y28, M32SCALE0) \
	CMPQ R13, $3 \
	JEQ done \
	M32ACT(24, 56, Y29, M32SCALE0)

#define M32Q4BLOCK(done) \
	M32Q4W(2(SI), Y16) \
	M32Q4W(2(SI)(BX*1), Y17) \
	M32Q4W(2(SI)(BX*2), Y18) \
	M32Q4W(2(DX), Y19) \
	M32Q4W(2(SI)(BX*4), Y20) \
	M32Q4W(2(DX)(BX*2), Y21) \
	M32Q4W(2(DX)(R9*1), Y22) \
	M32Q4W(2(DX)(BX*4), Y23) \
	M32SCALES8 \
	VCVTPH2PS X11, Y30 \
	M32ACT(0, 32, Y26, M32SCALE1) \
	CMPQ R13, $1 \
	JEQ done \
	M32ACT(8, 40, Y27, M32SCALE1) \
	CMPQ R13, $2 \
	JEQ done \
	M32ACT(16, 48, Y28, M32SCALE1) \
	CMPQ R13, $3 \
	JEQ done \
	M32ACT(24, 56, Y29, M32SCALE1)

// M32ROWSPROLOG loads m32RowsQ5VNNI's and m32RowsQ4VNNI's arguments.
#define M32ROWSPROLOG \
	MOVQ w+0(FP), SI \
	MOVQ rs+8(FP), BX \
	MOVQ nb+16(FP), CX \
	MOVQ acts+24(FP), R12 \
	MOVQ nt+32(FP), R13 \
	MOVQ pf+48(FP), R8 \
	MOVQ pfstep+56(FP), R10 \
	LEAQ (BX)(BX*2), R9 \
	LEAQ (SI)(R9*1), DX \
	VMOVDQU32 m32b80<>(SB), Y24 \
	VPXORD Y26, Y26, Y26 \
	VPXORD Y27, Y27, Y27 \
	VPXORD Y28, Y28, Y28 \
	VPXORD Y29, Y29, Y29 \
	XORQ DI, DI

#define M32ROWSEPILOG \
	MOVQ out+40(FP), R11 \
	VMOVUPS Y26, 0(R11) \
	VMOVUPS Y27, 32(R11) \
	VMOVUPS Y28, 64(R11) \
	VMOVUPS Y29, 96(R11) \
	VZEROUPPER \
	RET

// func m32RowsQ5VNNI(w *byte, rs int, nb int, acts *m32Acts, nt int, out *[4][8]float32, pf uintptr, pfstep int)
// m32RowsVNNI reading Q5_0 rows directly, decoding them in registers.
TEXT ·m32RowsQ5VNNI(SB), NOSPLIT, $0-64
	M32ROWSPROLOG
	TESTQ CX, CX
	JEQ q5rdone
q5rloop:
	M32PREFETCH
	M32Q5BLOCK(q5rnext)
q5rnext:
	ADDQ $22, SI
	ADDQ $22, DX
	ADDQ $4, DI
	DECQ CX
	JNZ q5rloop
q5rdone:
	M32ROWSEPILOG

// func m32RowsQ4VNNI(w *byte, rs int, nb int, acts *m32Acts, nt int, out *[4][8]float32, pf uintptr, pfstep int)
// m32RowsVNNI reading Q4_0 rows directly.
TEXT ·m32RowsQ4VNNI(SB), NOSPLIT, $0-64
	M32ROWSPROLOG
	TESTQ CX, CX
	JEQ q4rdone
q4rloop:
	M32PREFETCH
	M32Q4BLOCK(q4rnext)
q4rnext:
	ADDQ $18, SI
	ADDQ $18, DX
	ADDQ $4, DI
	DECQ CX
	JNZ q4rloop
q4rdone:
	M32ROWSEPILOG
