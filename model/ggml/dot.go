package ggml

import (
	"encoding/binary"
	"math"
)

// The row kernels: y = dot(one weight row, prepared activation). Each
// follows the arithmetic of ggml's portable ggml_vec_dot_<type>_<vec_dot
// type>: exact integer sums per block, then float32 scaling and
// accumulation in ggml's order. Explicit float32(...) conversions keep the
// Go compiler from fusing a multiply and an add into one FMA (which it may
// do on arm64 and with GOAMD64=v3), since ggml's portable code rounds both.

type rowDot func(row []byte, a *Activation) float32

func rowKernel(t Type) rowDot {
	switch t {
	case F32:
		return dotF32Row
	case F16:
		return dotF16Row
	case BF16:
		return dotBF16Row
	case Q4_0:
		return dotQ4_0
	case Q4_1:
		return dotQ4_1
	case Q5_0:
		return dotQ5_0
	case Q5_1:
		return dotQ5_1
	case Q8_0:
		return dotQ8_0
	case Q4_K:
		return dotQ4_K
	case Q5_K:
		return dotQ5_K
	case Q6_K:
		return dotQ6_K
	}
	return nil
}

// dotF32Row is ggml_vec_dot_f32 without SIMD: float32 products summed in
// float64.
func dotF32Row(row []byte, a *Activation) float32 {
	x := a.f32[:a.n]
	row = row[:4*len(x)]
	var sum float64
	for i, v := range x {
		w := math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:]))
		sum += float64(float32(w * v))
	}
	return float32(sum)
}

func dotF16Row(row []byte, a *Activation) float32 {
	x := a.h[:a.n]
	row = row[:2*len(x)]
	var sum float64
	for i, v := range x {
		w := f16Table[binary.LittleEndian.Uint16(row[2*i:])]
		sum += float64(float32(w * f16Table[v]))
	}
	return float32(sum)
}

func dotBF16Row(row []byte, a *Activation) float32 {
	x := a.h[:a.n]
	row = row[:2*len(x)]
	var sum float64
	for i, v := range x {
		w := BF16ToFP32(binary.LittleEndian.Uint16(row[2*i:]))
		sum += float64(float32(w * BF16ToFP32(v)))
	}
	return float32(sum)
}

// DotF16 is ggml_vec_dot_f16 (portable form) over two F16 vectors: float32
// products accumulated in float64, rounded to float32 at the end.
//
// For attention over an F16 KV cache, ggml's CPU backend computes
// mul_mat(K, q) with K in F16, so q is first rounded to F16 (F16's vec_dot
// type is F16) and the scores are DotF16(k_row, q16). Without flash
// attention, softmax(KQ)·V is mul_mat(Vᵀ, kq) with Vᵀ in F16, so the
// attention weights are rounded to F16 as well before DotF16. Convert with
// FP32ToFP16 (or ToF16) to mimic both.
func DotF16(a, b []uint16) float32 {
	b = b[:len(a)]
	var sum float64
	for i, v := range a {
		sum += float64(float32(f16Table[v] * f16Table[b[i]]))
	}
	return float32(sum)
}

// DotBF16 is ggml_vec_dot_bf16 (portable form).
func DotBF16(a, b []uint16) float32 {
	b = b[:len(a)]
	var sum float64
	for i, v := range a {
		sum += float64(float32(BF16ToFP32(v) * BF16ToFP32(b[i])))
	}
	return float32(sum)
}

// DotF32 is ggml_vec_dot_f32 (portable form): float32 products summed in
// float64.
func DotF32(a, b []float32) float32 {
	b = b[:len(a)]
	var sum float64
	for i, v := range a {
		sum += float64(float32(v * b[i]))
	}
	return float32(sum)
}

// ToF16 converts src to F16 into dst (ggml_cpu_fp32_to_fp16).
func ToF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = FP32ToFP16(v)
	}
}

func dotQ4_0(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:18*nb]
	var sumf float32
	for ib := 0; ib < nb; ib++ {
		b := row[18*ib : 18*ib+18]
		q := a.qs[32*ib : 32*ib+32]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			v := b[2+j]
			s0 += (int32(v&0x0f) - 8) * int32(q[j])
			s1 += (int32(v>>4) - 8) * int32(q[j+16])
		}
		sumf += float32(float32(float32(s0+s1)*half(b)) * a.d[ib])
	}
	return sumf
}

func dotQ4_1(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:20*nb]
	var sumf float32
	for ib := 0; ib < nb; ib++ {
		b := row[20*ib : 20*ib+20]
		q := a.qs[32*ib : 32*ib+32]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			v := b[4+j]
			s0 += int32(v&0x0f) * int32(q[j])
			s1 += int32(v>>4) * int32(q[j+16])
		}
		dd := float32(half(b) * a.d[ib])
		sumf += float32(float32(dd*float32(s0+s1)) + float32(half(b[2:])*a.s[ib]))
	}
	return sumf
}

func dotQ5_0(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:22*nb]
	var sumf float32
	for ib := 0; ib < nb; ib++ {
		b := row[22*ib : 22*ib+22]
		qh := binary.LittleEndian.Uint32(b[2:])
		q := a.qs[32*ib : 32*ib+32]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			v := b[6+j]
			h0 := int32(qh>>j&1) << 4
			h1 := int32(qh>>(j+16)&1) << 4
			s0 += (int32(v&0x0f) | h0 - 16) * int32(q[j])
			s1 += (int32(v>>4) | h1 - 16) * int32(q[j+16])
		}
		dd := float32(half(b) * a.d[ib])
		sumf += float32(dd * float32(s0+s1))
	}
	return sumf
}

func dotQ5_1(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:24*nb]
	var sumf float32
	for ib := 0; ib < nb; ib++ {
		b := row[24*ib : 24*ib+24]
		qh := binary.LittleEndian.Uint32(b[4:])
		q := a.qs[32*ib : 32*ib+32]
		var s0, s1 int32
		for j := 0; j < 16; j++ {
			v := b[8+j]
			h0 := int32(qh>>j&1) << 4
			h1 := int32(qh>>(j+16)&1) << 4
			s0 += (int32(v&0x0f) | h0) * int32(q[j])
			s1 += (int32(v>>4) | h1) * int32(q[j+16])
		}
		dd := float32(half(b) * a.d[ib])
		sumf += float32(float32(dd*float32(s0+s1)) + float32(half(b[2:])*a.s[ib]))
	}
	return sumf
}

func dotQ8_0(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:34*nb]
	var sumf float32
	for ib := 0; ib < nb; ib++ {
		b := row[34*ib+2 : 34*ib+34]
		q := a.qs[32*ib : 32*ib+32]
		var s0, s1, s2, s3 int32
		for j := 0; j < 32; j += 4 {
			s0 += int32(int8(b[j])) * int32(q[j])
			s1 += int32(int8(b[j+1])) * int32(q[j+1])
			s2 += int32(int8(b[j+2])) * int32(q[j+2])
			s3 += int32(int8(b[j+3])) * int32(q[j+3])
		}
		dd := float32(half(row[34*ib:]) * a.d[ib])
		sumf += float32(float32(s0+s1+s2+s3) * dd)
	}
	return sumf
}

// finishK8 adds the eight per-lane float sums the way ggml's portable K-quant
// kernels do at the end of a row.
func finishK8(sumf float32, sums *[8]float32) float32 {
	for l := 0; l < 8; l++ {
		sumf += sums[l]
	}
	return sumf
}

// The K-quant kernels keep ggml's eight integer lanes: element k of a
// super-block is accumulated (times its sub-block scale) into lane k%8,
// and each lane is scaled and added to its own float sum per super-block.

func dotQ4_K(row []byte, a *Activation) float32 {
	nb := a.n / QK_K
	row = row[:144*nb]
	var sums [8]float32
	var sumf float32
	for i := 0; i < nb; i++ {
		b := row[144*i : 144*i+144]
		q8 := a.qs[QK_K*i : QK_K*(i+1)]
		bs := a.bsums[16*i : 16*i+16]
		scales := b[4:16]
		q4 := b[16:144]
		var lanes [8]int32
		var summ int32
		for j := 0; j < 4; j++ { // 64 elements: low nibbles then high nibbles
			sc, m := scaleMinK4(2*j, scales)
			sc2, m2 := scaleMinK4(2*j+1, scales)
			summ += (int32(bs[4*j]) + int32(bs[4*j+1])) * int32(m)
			summ += (int32(bs[4*j+2]) + int32(bs[4*j+3])) * int32(m2)
			qq := q4[32*j : 32*j+32]
			lo := q8[64*j : 64*j+32]
			hi := q8[64*j+32 : 64*j+64]
			s1, s2 := int32(sc), int32(sc2)
			for l := 0; l < 32; l += 8 {
				for k := 0; k < 8; k++ {
					v := qq[l+k]
					lanes[k] += s1*int32(v&0x0f)*int32(lo[l+k]) + s2*int32(v>>4)*int32(hi[l+k])
				}
			}
		}
		d := float32(half(b) * a.d[i])
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(lanes[l]))
		}
		dmin := float32(half(b[2:]) * a.d[i])
		sumf -= float32(dmin * float32(summ))
	}
	return finishK8(sumf, &sums)
}

func dotQ5_K(row []byte, a *Activation) float32 {
	nb := a.n / QK_K
	row = row[:176*nb]
	var sums [8]float32
	var sumf float32
	for i := 0; i < nb; i++ {
		b := row[176*i : 176*i+176]
		q8 := a.qs[QK_K*i : QK_K*(i+1)]
		bs := a.bsums[16*i : 16*i+16]
		scales := b[4:16]
		qh := b[16:48]
		ql := b[48:176]
		var lanes [8]int32
		var summ int32
		for j := 0; j < 4; j++ {
			sc, m := scaleMinK4(2*j, scales)
			sc2, m2 := scaleMinK4(2*j+1, scales)
			summ += (int32(bs[4*j]) + int32(bs[4*j+1])) * int32(m)
			summ += (int32(bs[4*j+2]) + int32(bs[4*j+3])) * int32(m2)
			qq := ql[32*j : 32*j+32]
			lo := q8[64*j : 64*j+32]
			hi := q8[64*j+32 : 64*j+64]
			s1, s2 := int32(sc), int32(sc2)
			sh1, sh2 := uint(2*j), uint(2*j+1)
			for l := 0; l < 32; l += 8 {
				for k := 0; k < 8; k++ {
					v := qq[l+k]
					h := qh[l+k]
					w1 := int32(v&0x0f) | int32(h>>sh1&1)<<4
					w2 := int32(v>>4) | int32(h>>sh2&1)<<4
					lanes[k] += s1*w1*int32(lo[l+k]) + s2*w2*int32(hi[l+k])
				}
			}
		}
		d := float32(half(b) * a.d[i])
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(lanes[l]))
		}
		dmin := float32(half(b[2:]) * a.d[i])
		sumf -= float32(dmin * float32(summ))
	}
	return finishK8(sumf, &sums)
}

func dotQ6_K(row []byte, a *Activation) float32 {
	nb := a.n / QK_K
	row = row[:210*nb]
	var sums [8]float32
	for i := 0; i < nb; i++ {
		b := row[210*i : 210*i+210]
		q8 := a.qs[QK_K*i : QK_K*(i+1)]
		ql, qh, sc := b[0:128], b[128:192], b[192:208]
		var lanes [8]int32
		for n := 0; n < 2; n++ { // halves of 128 elements
			qln, qhn := ql[64*n:64*n+64], qh[32*n:32*n+32]
			q := q8[128*n : 128*n+128]
			scn := sc[8*n : 8*n+8]
			for l := 0; l < 32; l += 8 {
				is := l / 16
				s1 := int32(int8(scn[is]))
				s2 := int32(int8(scn[is+2]))
				s3 := int32(int8(scn[is+4]))
				s4 := int32(int8(scn[is+6]))
				for k := 0; k < 8; k++ {
					lo, hi, h := qln[l+k], qln[l+k+32], qhn[l+k]
					w1 := int32(lo&0x0f|(h&3)<<4) - 32
					w2 := int32(hi&0x0f|(h>>2&3)<<4) - 32
					w3 := int32(lo>>4|(h>>4&3)<<4) - 32
					w4 := int32(hi>>4|(h>>6&3)<<4) - 32
					lanes[k] += s1*w1*int32(q[l+k]) + s2*w2*int32(q[l+k+32]) +
						s3*w3*int32(q[l+k+64]) + s4*w4*int32(q[l+k+96])
				}
			}
		}
		d := float32(half(b[208:]) * a.d[i])
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(lanes[l]))
		}
	}
	return finishK8(0, &sums)
}
