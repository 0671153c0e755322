//go:build !noasm && amd64

#include "textflag.h"

// AVX2 integer parts of the dot-product kernels. They compute exact int32
// sums only; the Go callers scale and accumulate them in float32 in ggml's
// order, so results equal the pure-Go kernels bit for bit.

DATA nib<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nib<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nib<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nib<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nib<>(SB), RODATA|NOPTR, $32

DATA three<>+0(SB)/8, $0x0303030303030303
DATA three<>+8(SB)/8, $0x0303030303030303
DATA three<>+16(SB)/8, $0x0303030303030303
DATA three<>+24(SB)/8, $0x0303030303030303
GLOBL three<>(SB), RODATA|NOPTR, $32

DATA b32<>+0(SB)/8, $0x2020202020202020
DATA b32<>+8(SB)/8, $0x2020202020202020
DATA b32<>+16(SB)/8, $0x2020202020202020
DATA b32<>+24(SB)/8, $0x2020202020202020
GLOBL b32<>(SB), RODATA|NOPTR, $32

// HSUM8 leaves the sum of the eight int32 lanes of Y0 in X0's low lane
// (clobbers X1).
#define HSUM8 \
	VEXTRACTI128 $1, Y0, X1 \
	VPADDD X1, X0, X0 \
	VPSHUFD $0x4e, X0, X1 \
	VPADDD X1, X0, X0 \
	VPSHUFD $0xb1, X0, X1 \
	VPADDD X1, X0, X0

// REDUCE8 turns the eight int32 partial-sum vectors Y8..Y15 (one per
// block) into the eight block sums in Y0 and stores them at (DX).
#define REDUCE8 \
	VPHADDD Y9, Y8, Y8 \
	VPHADDD Y11, Y10, Y10 \
	VPHADDD Y13, Y12, Y12 \
	VPHADDD Y15, Y14, Y14 \
	VPHADDD Y10, Y8, Y8 \
	VPHADDD Y14, Y12, Y12 \
	VPERM2I128 $0x20, Y12, Y8, Y0 \
	VPERM2I128 $0x31, Y12, Y8, Y1 \
	VPADDD Y1, Y0, Y0 \
	VMOVDQU Y0, (DX)

// Q8PART leaves the 8 int32 partial sums of one Q8_0 block in dst.
#define Q8PART(dst) \
	VPMOVSXBW (SI), Y0 \
	VPMOVSXBW 16(SI), Y1 \
	VPMOVSXBW (DI), Y2 \
	VPMOVSXBW 16(DI), Y3 \
	VPMADDWD Y2, Y0, Y0 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y1, Y0, dst \
	ADDQ BX, SI \
	ADDQ $32, DI

// func blockSumsQ8AVX2(w *byte, stride int, q *int8, nb int, out *int32)
// out[i] = Σ_j int8(w[i*stride+j]) * q[32*i+j], j < 32.
TEXT ·blockSumsQ8AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ q+16(FP), DI
	MOVQ nb+24(FP), CX
	MOVQ out+32(FP), DX
q8by8:
	CMPQ CX, $8
	JLT q8tail
	Q8PART(Y8)
	Q8PART(Y9)
	Q8PART(Y10)
	Q8PART(Y11)
	Q8PART(Y12)
	Q8PART(Y13)
	Q8PART(Y14)
	Q8PART(Y15)
	REDUCE8
	ADDQ $32, DX
	SUBQ $8, CX
	JMP q8by8
q8tail:
	TESTQ CX, CX
	JEQ q8done
q8loop:
	Q8PART(Y0)
	HSUM8
	VMOVD X0, (DX)
	ADDQ $4, DX
	DECQ CX
	JNZ q8loop
q8done:
	VZEROUPPER
	RET

// Q4PART leaves the 8 int32 partial sums of one Q4_0/Q4_1 block in dst
// (X6: nibble mask, Y7: bias words).
#define Q4PART(dst) \
	VMOVDQU (SI), X4 \
	VPAND X6, X4, X5 \
	VPSRLW $4, X4, X4 \
	VPAND X6, X4, X4 \
	VPMOVZXBW X5, Y0 \
	VPMOVZXBW X4, Y1 \
	VPSUBW Y7, Y0, Y0 \
	VPSUBW Y7, Y1, Y1 \
	VPMOVSXBW (DI), Y2 \
	VPMOVSXBW 16(DI), Y3 \
	VPMADDWD Y2, Y0, Y0 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y1, Y0, dst \
	ADDQ BX, SI \
	ADDQ $32, DI

// func blockSumsQ4AVX2(w *byte, stride int, q *int8, nb int, bias int, out *int32)
// w points at a Q4_0/Q4_1 block's 16 quant bytes: element j is the low
// nibble of byte j, element j+16 the high nibble; bias (8 for Q4_0, 0 for
// Q4_1) is subtracted from each level.
TEXT ·blockSumsQ4AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ q+16(FP), DI
	MOVQ nb+24(FP), CX
	MOVQ bias+32(FP), AX
	MOVQ out+40(FP), DX
	VMOVDQU nib<>(SB), X6
	MOVQ AX, X7
	VPBROADCASTW X7, Y7
q4by8:
	CMPQ CX, $8
	JLT q4tail
	Q4PART(Y8)
	Q4PART(Y9)
	Q4PART(Y10)
	Q4PART(Y11)
	Q4PART(Y12)
	Q4PART(Y13)
	Q4PART(Y14)
	Q4PART(Y15)
	REDUCE8
	ADDQ $32, DX
	SUBQ $8, CX
	JMP q4by8
q4tail:
	TESTQ CX, CX
	JEQ q4done
q4loop:
	Q4PART(Y0)
	HSUM8
	VMOVD X0, (DX)
	ADDQ $4, DX
	DECQ CX
	JNZ q4loop
q4done:
	VZEROUPPER
	RET

DATA bitshuf<>+0(SB)/8, $0x0000000000000000
DATA bitshuf<>+8(SB)/8, $0x0101010101010101
DATA bitshuf<>+16(SB)/8, $0x0202020202020202
DATA bitshuf<>+24(SB)/8, $0x0303030303030303
GLOBL bitshuf<>(SB), RODATA|NOPTR, $32

DATA bitsel<>+0(SB)/8, $0x8040201008040201
DATA bitsel<>+8(SB)/8, $0x8040201008040201
DATA bitsel<>+16(SB)/8, $0x8040201008040201
DATA bitsel<>+24(SB)/8, $0x8040201008040201
GLOBL bitsel<>(SB), RODATA|NOPTR, $32

DATA b16<>+0(SB)/8, $0x1010101010101010
DATA b16<>+8(SB)/8, $0x1010101010101010
DATA b16<>+16(SB)/8, $0x1010101010101010
DATA b16<>+24(SB)/8, $0x1010101010101010
GLOBL b16<>(SB), RODATA|NOPTR, $32

// Q5PART leaves the 8 int32 partial sums of one Q5_0/Q5_1 block in dst
// (Y6: bias words; constants from memory).
#define Q5PART(dst) \
	VMOVDQU 4(SI), X4 \
	VPAND nib<>(SB), X4, X5 \
	VPSRLW $4, X4, X4 \
	VPAND nib<>(SB), X4, X4 \
	VINSERTI128 $1, X4, Y5, Y5 \
	VPBROADCASTD (SI), Y7 \
	VPSHUFB bitshuf<>(SB), Y7, Y7 \
	VPAND bitsel<>(SB), Y7, Y7 \
	VPCMPEQB bitsel<>(SB), Y7, Y7 \
	VPAND b16<>(SB), Y7, Y7 \
	VPOR Y7, Y5, Y5 \
	VPMOVZXBW X5, Y0 \
	VEXTRACTI128 $1, Y5, X1 \
	VPMOVZXBW X1, Y1 \
	VPSUBW Y6, Y0, Y0 \
	VPSUBW Y6, Y1, Y1 \
	VPMOVSXBW (DI), Y2 \
	VPMOVSXBW 16(DI), Y3 \
	VPMADDWD Y2, Y0, Y0 \
	VPMADDWD Y3, Y1, Y1 \
	VPADDD Y1, Y0, dst \
	ADDQ BX, SI \
	ADDQ $32, DI

// func blockSumsQ5AVX2(w *byte, stride int, q *int8, nb int, bias int, out *int32)
// w points at a Q5_0/Q5_1 block's qh (4 bytes, bit j is the fifth bit of
// element j) followed by its 16 nibble bytes; bias is 16 for Q5_0, 0 for
// Q5_1.
TEXT ·blockSumsQ5AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ q+16(FP), DI
	MOVQ nb+24(FP), CX
	MOVQ bias+32(FP), AX
	MOVQ out+40(FP), DX
	MOVQ AX, X6
	VPBROADCASTW X6, Y6
q5by8:
	CMPQ CX, $8
	JLT q5tail
	Q5PART(Y8)
	Q5PART(Y9)
	Q5PART(Y10)
	Q5PART(Y11)
	Q5PART(Y12)
	Q5PART(Y13)
	Q5PART(Y14)
	Q5PART(Y15)
	REDUCE8
	ADDQ $32, DX
	SUBQ $8, CX
	JMP q5by8
q5tail:
	TESTQ CX, CX
	JEQ q5done
q5loop:
	Q5PART(Y0)
	HSUM8
	VMOVD X0, (DX)
	ADDQ $4, DX
	DECQ CX
	JNZ q5loop
q5done:
	VZEROUPPER
	RET

// LANES16 multiplies the 16 unsigned bytes at X(wlo) [as int16] with the
// 16 int8 at qaddr, widens the products to int32 so that element k lands in
// lane k%8, and returns the 8 lanes in Y0 (clobbers Y1, Y2).
// SUB32 does the same for 32 elements: two such halves added in int16
// first (|sum| <= 2*31*128 fits).

// func lanesQ4KAVX2(qs *byte, q8 *int8, scales *int32, lanes *int32)
// For one Q4_K super-block: lanes[l] = Σ_s scales[s] * Σ_{k in sub-block s,
// k%8 == l} level_k * q8_k.
TEXT ·lanesQ4KAVX2(SB), NOSPLIT, $0-32
	MOVQ qs+0(FP), SI
	MOVQ q8+8(FP), DI
	MOVQ scales+16(FP), BX
	MOVQ lanes+24(FP), DX
	VMOVDQU nib<>(SB), Y6
	VPXOR Y8, Y8, Y8          // lane accumulator
	MOVQ $4, CX
q4kloop:
	VMOVDQU (SI), Y4          // 32 bytes: low nibbles = sub-block 2j, high = 2j+1
	VPAND Y6, Y4, Y5
	VPSRLW $4, Y4, Y4
	VPAND Y6, Y4, Y4
	// sub-block 2j: levels Y5, activations q8[0:32]
	VPMOVZXBW X5, Y0
	VEXTRACTI128 $1, Y5, X1
	VPMOVZXBW X1, Y1
	VPMOVSXBW (DI), Y2
	VPMOVSXBW 16(DI), Y3
	VPMULLW Y2, Y0, Y0
	VPMULLW Y3, Y1, Y1
	VPADDW Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPMOVSXWD X0, Y0
	VPMOVSXWD X1, Y1
	VPADDD Y1, Y0, Y0
	VPBROADCASTD (BX), Y2
	VPMULLD Y2, Y0, Y0
	VPADDD Y0, Y8, Y8
	// sub-block 2j+1: levels Y4, activations q8[32:64]
	VPMOVZXBW X4, Y0
	VEXTRACTI128 $1, Y4, X1
	VPMOVZXBW X1, Y1
	VPMOVSXBW 32(DI), Y2
	VPMOVSXBW 48(DI), Y3
	VPMULLW Y2, Y0, Y0
	VPMULLW Y3, Y1, Y1
	VPADDW Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPMOVSXWD X0, Y0
	VPMOVSXWD X1, Y1
	VPADDD Y1, Y0, Y0
	VPBROADCASTD 4(BX), Y2
	VPMULLD Y2, Y0, Y0
	VPADDD Y0, Y8, Y8
	ADDQ $32, SI
	ADDQ $64, DI
	ADDQ $8, BX
	DECQ CX
	JNZ q4kloop
	VMOVDQU Y8, (DX)
	VZEROUPPER
	RET

// func lanesI8x32AVX2(w *int8, q8 *int8, scales *int32, n int, lanes *int32)
// Generic form for already unpacked signed levels: n sub-blocks of 32.
TEXT ·lanesI8x32AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ q8+8(FP), DI
	MOVQ scales+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ lanes+32(FP), DX
	VPXOR Y8, Y8, Y8
	TESTQ CX, CX
	JEQ i8done
i8loop:
	VPMOVSXBW (SI), Y0
	VPMOVSXBW 16(SI), Y1
	VPMOVSXBW (DI), Y2
	VPMOVSXBW 16(DI), Y3
	VPMULLW Y2, Y0, Y0
	VPMULLW Y3, Y1, Y1
	VPADDW Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPMOVSXWD X0, Y0
	VPMOVSXWD X1, Y1
	VPADDD Y1, Y0, Y0
	VPBROADCASTD (BX), Y2
	VPMULLD Y2, Y0, Y0
	VPADDD Y0, Y8, Y8
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $4, BX
	DECQ CX
	JNZ i8loop
i8done:
	VMOVDQU Y8, (DX)
	VZEROUPPER
	RET

// Q6SUB16 handles 16 levels (int8 in X0) against 16 activations at
// off(DI) with the int32 scale at soff(BX), adding to Y8.
#define Q6SUB16(off, soff) \
	VPMOVSXBW X0, Y0 \
	VPMOVSXBW off(DI), Y2 \
	VPMULLW Y2, Y0, Y0 \
	VEXTRACTI128 $1, Y0, X1 \
	VPMOVSXWD X0, Y0 \
	VPMOVSXWD X1, Y1 \
	VPADDD Y1, Y0, Y0 \
	VPBROADCASTD soff(BX), Y2 \
	VPMULLD Y2, Y0, Y0 \
	VPADDD Y0, Y8, Y8

// Q6QUARTER builds the 32 levels of quarter m of a 128-element half:
// (ql[src] >> nsh) & 15 | ((qh >> 2m) & 3) << 4, minus 32, and adds both
// 16-element sub-blocks.
#define Q6QUARTER(src, nsh, hsh, qoff, soff) \
	VMOVDQU src(SI), Y4 \
	VPSRLW $nsh, Y4, Y4 \
	VPAND Y6, Y4, Y4 \
	VPSRLW $hsh, Y9, Y5 \
	VPAND Y7, Y5, Y5 \
	VPSLLW $4, Y5, Y5 \
	VPOR Y5, Y4, Y4 \
	VPSUBB Y10, Y4, Y4 \
	VMOVDQA X4, X0 \
	Q6SUB16(qoff, soff) \
	VEXTRACTI128 $1, Y4, X0 \
	Q6SUB16(qoff+16, soff+4)

// func lanesQ6KAVX2(b *byte, q8 *int8, scales *int32, lanes *int32)
// For one Q6_K super-block (ql at b[0:128], qh at b[128:192]); scales are
// the 16 int8 sub-block scales widened to int32.
TEXT ·lanesQ6KAVX2(SB), NOSPLIT, $0-32
	MOVQ b+0(FP), SI
	MOVQ q8+8(FP), DI
	MOVQ scales+16(FP), BX
	MOVQ lanes+24(FP), DX
	LEAQ 128(SI), R8          // qh
	VMOVDQU nib<>(SB), Y6
	VMOVDQU three<>(SB), Y7
	VMOVDQU b32<>(SB), Y10
	VPXOR Y8, Y8, Y8
	MOVQ $2, CX
q6loop:
	VMOVDQU (R8), Y9          // qh of this 128-element half
	Q6QUARTER(0, 0, 0, 0, 0)
	Q6QUARTER(32, 0, 2, 32, 8)
	Q6QUARTER(0, 4, 4, 64, 16)
	Q6QUARTER(32, 4, 6, 96, 24)
	ADDQ $64, SI
	ADDQ $32, R8
	ADDQ $128, DI
	ADDQ $32, BX
	DECQ CX
	JNZ q6loop
	VMOVDQU Y8, (DX)
	VZEROUPPER
	RET

DATA one<>+0(SB)/8, $0x0101010101010101
DATA one<>+8(SB)/8, $0x0101010101010101
DATA one<>+16(SB)/8, $0x0101010101010101
DATA one<>+24(SB)/8, $0x0101010101010101
GLOBL one<>(SB), RODATA|NOPTR, $32

// SUB32U adds scale(soff) * lanes of 32 unsigned levels in Y(lv) against
// the activations at qoff(DI) to Y8 (clobbers Y0-Y3).
#define SUB32U(lv, xlv, qoff, soff) \
	VPMOVZXBW xlv, Y0 \
	VEXTRACTI128 $1, lv, X1 \
	VPMOVZXBW X1, Y1 \
	VPMOVSXBW qoff(DI), Y2 \
	VPMOVSXBW qoff+16(DI), Y3 \
	VPMULLW Y2, Y0, Y0 \
	VPMULLW Y3, Y1, Y1 \
	VPADDW Y1, Y0, Y0 \
	VEXTRACTI128 $1, Y0, X1 \
	VPMOVSXWD X0, Y0 \
	VPMOVSXWD X1, Y1 \
	VPADDD Y1, Y0, Y0 \
	VPBROADCASTD soff(BX), Y2 \
	VPMULLD Y2, Y0, Y0 \
	VPADDD Y0, Y8, Y8

// func lanesQ5KAVX2(ql *byte, qh *byte, q8 *int8, scales *int32, lanes *int32)
// Q4_K's lanes with a fifth bit per level from qh (bit 2j for the low
// nibbles of chunk j, bit 2j+1 for the high ones).
TEXT ·lanesQ5KAVX2(SB), NOSPLIT, $0-40
	MOVQ ql+0(FP), SI
	MOVQ qh+8(FP), R8
	MOVQ q8+16(FP), DI
	MOVQ scales+24(FP), BX
	MOVQ lanes+32(FP), DX
	VMOVDQU nib<>(SB), Y6
	VMOVDQU one<>(SB), Y7
	VMOVDQU (R8), Y9          // qh
	VPXOR Y8, Y8, Y8
	VPXOR X11, X11, X11       // shift count 2j
	MOVQ $1, AX
	MOVQ AX, X12              // constant 1 for the count
	MOVQ $4, CX
q5kloop:
	VMOVDQU (SI), Y4
	VPAND Y6, Y4, Y5          // low nibbles
	VPSRLW $4, Y4, Y4
	VPAND Y6, Y4, Y4          // high nibbles
	VPSRLW X11, Y9, Y10
	VPAND Y7, Y10, Y10
	VPSLLW $4, Y10, Y10
	VPOR Y10, Y5, Y5
	VPADDQ X12, X11, X11
	VPSRLW X11, Y9, Y10
	VPAND Y7, Y10, Y10
	VPSLLW $4, Y10, Y10
	VPOR Y10, Y4, Y4
	VPADDQ X12, X11, X11
	SUB32U(Y5, X5, 0, 0)
	SUB32U(Y4, X4, 32, 4)
	ADDQ $32, SI
	ADDQ $64, DI
	ADDQ $8, BX
	DECQ CX
	JNZ q5kloop
	VMOVDQU Y8, (DX)
	VZEROUPPER
	RET

// func accumD(w *byte, stride int, yd *float32, sums *int32, n int, sumf float32, order int) float32
// The float part of the Q8_0/Q4_0/Q5_0 kernels with the exact scalar
// operations of the Go code (no FMA): for each block i, dx is the F16 at
// w+i*stride and s = float32(sums[i]);
//   order 0: sumf += s * (dx*yd[i])      (Q8_0, Q5_0)
//   order 1: sumf += (s*dx) * yd[i]      (Q4_0)
TEXT ·accumD(SB), NOSPLIT, $0-60
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ yd+16(FP), DI
	MOVQ sums+24(FP), R9
	MOVQ n+32(FP), CX
	VMOVSS sumf+40(FP), X0
	MOVQ order+48(FP), R10
	VXORPS X7, X7, X7         // source of the upper lanes: no false dependency
	TESTQ CX, CX
	JEQ accdone
	TESTQ R10, R10
	JNE acc1
acc0:
	MOVWLZX (SI), AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	VMULSS (DI), X1, X1
	VCVTSI2SSL (R9), X7, X3
	VMULSS X1, X3, X3
	VADDSS X3, X0, X0
	ADDQ BX, SI
	ADDQ $4, DI
	ADDQ $4, R9
	DECQ CX
	JNZ acc0
	JMP accdone
acc1:
	MOVWLZX (SI), AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	VCVTSI2SSL (R9), X7, X3
	VMULSS X1, X3, X3
	VMULSS (DI), X3, X3
	VADDSS X3, X0, X0
	ADDQ BX, SI
	ADDQ $4, DI
	ADDQ $4, R9
	DECQ CX
	JNZ acc1
accdone:
	VMOVSS X0, ret+56(FP)
	RET

// func accumDM(w *byte, stride int, yd, ys *float32, sums *int32, n int, sumf float32) float32
// The float part of the Q4_1/Q5_1 kernels: dx at w+i*stride, mx two bytes
// later; sumf += (dx*yd[i])*s + mx*ys[i].
TEXT ·accumDM(SB), NOSPLIT, $0-60
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ yd+16(FP), DI
	MOVQ ys+24(FP), R8
	MOVQ sums+32(FP), R9
	MOVQ n+40(FP), CX
	VMOVSS sumf+48(FP), X0
	VXORPS X7, X7, X7
	TESTQ CX, CX
	JEQ accmdone
accm:
	MOVWLZX (SI), AX
	VMOVD AX, X1
	VCVTPH2PS X1, X1
	MOVWLZX 2(SI), AX
	VMOVD AX, X2
	VCVTPH2PS X2, X2
	VMULSS (DI), X1, X1       // dx*yd
	VCVTSI2SSL (R9), X7, X3
	VMULSS X3, X1, X1         // *s
	VMULSS (R8), X2, X2       // mx*ys
	VADDSS X2, X1, X1
	VADDSS X1, X0, X0
	ADDQ BX, SI
	ADDQ $4, DI
	ADDQ $4, R8
	ADDQ $4, R9
	DECQ CX
	JNZ accm
accmdone:
	VMOVSS X0, ret+56(FP)
	RET
