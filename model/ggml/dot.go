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

// goKernel is the pure-Go kernel for t (nil if none), the fallback
// everywhere and the reference the assembly kernels are tested against.
func goKernel(t Type) rowDot {
	if tr, ok := typeInfos[t]; ok {
		return tr.dot
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
	qs := a.qs[:32*nb]
	ds := a.d[:nb]
	var sumf float32
	for ib := range ds {
		b := (*[18]byte)(row[18*ib:])
		q := (*[32]int8)(qs[32*ib:])
		// Σ(w-8)·q = Σw·q - 8·Σq
		var s0, s1, sq int32
		for j := 0; j < 16; j += 4 {
			x := (*[4]byte)(b[2+j:])
			lo := (*[4]int8)(q[j:])
			hi := (*[4]int8)(q[16+j:])
			s0 += int32(x[0]&15)*int32(lo[0]) + int32(x[1]&15)*int32(lo[1]) + int32(x[2]&15)*int32(lo[2]) + int32(x[3]&15)*int32(lo[3])
			s1 += int32(x[0]>>4)*int32(hi[0]) + int32(x[1]>>4)*int32(hi[1]) + int32(x[2]>>4)*int32(hi[2]) + int32(x[3]>>4)*int32(hi[3])
			sq += int32(lo[0]) + int32(lo[1]) + int32(lo[2]) + int32(lo[3]) + int32(hi[0]) + int32(hi[1]) + int32(hi[2]) + int32(hi[3])
		}
		sumi := s0 + s1 - 8*sq
		sumf += float32(float32(float32(sumi)*f16Table[uint16(b[0])|uint16(b[1])<<8]) * ds[ib])
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
	qs := a.qs[:32*nb]
	ds := a.d[:nb]
	var sumf float32
	for ib := range ds {
		b := (*[34]byte)(row[34*ib:])
		q := (*[32]int8)(qs[32*ib:])
		var s0, s1, s2, s3 int32
		for j := 0; j < 32; j += 8 {
			x := (*[8]byte)(b[2+j:])
			y := (*[8]int8)(q[j:])
			s0 += int32(int8(x[0]))*int32(y[0]) + int32(int8(x[4]))*int32(y[4])
			s1 += int32(int8(x[1]))*int32(y[1]) + int32(int8(x[5]))*int32(y[5])
			s2 += int32(int8(x[2]))*int32(y[2]) + int32(int8(x[6]))*int32(y[6])
			s3 += int32(int8(x[3]))*int32(y[3]) + int32(int8(x[7]))*int32(y[7])
		}
		dd := float32(f16Table[uint16(b[0])|uint16(b[1])<<8] * ds[ib])
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
		b := (*[144]byte)(row[144*i:])
		q8 := (*[QK_K]int8)(a.qs[QK_K*i:])
		bs := (*[16]int16)(a.bsums[16*i:])
		scales := b[4:16]
		var lanes [8]int32
		var summ int32
		for j := 0; j < 4; j++ { // 64 elements: low nibbles, then high nibbles
			sc, m := scaleMinK4(2*j, scales)
			sc2, m2 := scaleMinK4(2*j+1, scales)
			summ += (int32(bs[4*j]) + int32(bs[4*j+1])) * int32(m)
			summ += (int32(bs[4*j+2]) + int32(bs[4*j+3])) * int32(m2)
			qq := (*[32]byte)(b[16+32*j:])
			lo := (*[32]int8)(q8[64*j:])
			hi := (*[32]int8)(q8[64*j+32:])
			var t0, t1, t2, t3, t4, t5, t6, t7 int32
			for k := 0; k < 32; k += 8 {
				x := (*[8]byte)(qq[k:])
				y := (*[8]int8)(lo[k:])
				t0 += int32(x[0]&15) * int32(y[0])
				t1 += int32(x[1]&15) * int32(y[1])
				t2 += int32(x[2]&15) * int32(y[2])
				t3 += int32(x[3]&15) * int32(y[3])
				t4 += int32(x[4]&15) * int32(y[4])
				t5 += int32(x[5]&15) * int32(y[5])
				t6 += int32(x[6]&15) * int32(y[6])
				t7 += int32(x[7]&15) * int32(y[7])
			}
			lanes[0] += int32(sc) * t0
			lanes[1] += int32(sc) * t1
			lanes[2] += int32(sc) * t2
			lanes[3] += int32(sc) * t3
			lanes[4] += int32(sc) * t4
			lanes[5] += int32(sc) * t5
			lanes[6] += int32(sc) * t6
			lanes[7] += int32(sc) * t7
			var u0, u1, u2, u3, u4, u5, u6, u7 int32
			for k := 0; k < 32; k += 8 {
				x := (*[8]byte)(qq[k:])
				y := (*[8]int8)(hi[k:])
				u0 += int32(x[0]>>4) * int32(y[0])
				u1 += int32(x[1]>>4) * int32(y[1])
				u2 += int32(x[2]>>4) * int32(y[2])
				u3 += int32(x[3]>>4) * int32(y[3])
				u4 += int32(x[4]>>4) * int32(y[4])
				u5 += int32(x[5]>>4) * int32(y[5])
				u6 += int32(x[6]>>4) * int32(y[6])
				u7 += int32(x[7]>>4) * int32(y[7])
			}
			lanes[0] += int32(sc2) * u0
			lanes[1] += int32(sc2) * u1
			lanes[2] += int32(sc2) * u2
			lanes[3] += int32(sc2) * u3
			lanes[4] += int32(sc2) * u4
			lanes[5] += int32(sc2) * u5
			lanes[6] += int32(sc2) * u6
			lanes[7] += int32(sc2) * u7
		}
		d := float32(half(b[:]) * a.d[i])
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
		b := (*[176]byte)(row[176*i:])
		q8 := (*[QK_K]int8)(a.qs[QK_K*i:])
		bs := (*[16]int16)(a.bsums[16*i:])
		scales := b[4:16]
		qh := (*[32]byte)(b[16:48])
		var lanes [8]int32
		var summ int32
		for j := 0; j < 4; j++ {
			sc, m := scaleMinK4(2*j, scales)
			sc2, m2 := scaleMinK4(2*j+1, scales)
			summ += (int32(bs[4*j]) + int32(bs[4*j+1])) * int32(m)
			summ += (int32(bs[4*j+2]) + int32(bs[4*j+3])) * int32(m2)
			qq := (*[32]byte)(b[48+32*j:])
			lo := (*[32]int8)(q8[64*j:])
			hi := (*[32]int8)(q8[64*j+32:])
			sh1, sh2 := uint(2*j), uint(2*j+1)
			var t0, t1, t2, t3, t4, t5, t6, t7 int32
			for k := 0; k < 32; k += 8 {
				x := (*[8]byte)(qq[k:])
				h := (*[8]byte)(qh[k:])
				y := (*[8]int8)(lo[k:])
				t0 += int32(x[0]&15|(h[0]>>sh1&1)<<4) * int32(y[0])
				t1 += int32(x[1]&15|(h[1]>>sh1&1)<<4) * int32(y[1])
				t2 += int32(x[2]&15|(h[2]>>sh1&1)<<4) * int32(y[2])
				t3 += int32(x[3]&15|(h[3]>>sh1&1)<<4) * int32(y[3])
				t4 += int32(x[4]&15|(h[4]>>sh1&1)<<4) * int32(y[4])
				t5 += int32(x[5]&15|(h[5]>>sh1&1)<<4) * int32(y[5])
				t6 += int32(x[6]&15|(h[6]>>sh1&1)<<4) * int32(y[6])
				t7 += int32(x[7]&15|(h[7]>>sh1&1)<<4) * int32(y[7])
			}
			lanes[0] += int32(sc) * t0
			lanes[1] += int32(sc) * t1
			lanes[2] += int32(sc) * t2
			lanes[3] += int32(sc) * t3
			lanes[4] += int32(sc) * t4
			lanes[5] += int32(sc) * t5
			lanes[6] += int32(sc) * t6
			lanes[7] += int32(sc) * t7
			var u0, u1, u2, u3, u4, u5, u6, u7 int32
			for k := 0; k < 32; k += 8 {
				x := (*[8]byte)(qq[k:])
				h := (*[8]byte)(qh[k:])
				y := (*[8]int8)(hi[k:])
				u0 += int32(x[0]>>4|(h[0]>>sh2&1)<<4) * int32(y[0])
				u1 += int32(x[1]>>4|(h[1]>>sh2&1)<<4) * int32(y[1])
				u2 += int32(x[2]>>4|(h[2]>>sh2&1)<<4) * int32(y[2])
				u3 += int32(x[3]>>4|(h[3]>>sh2&1)<<4) * int32(y[3])
				u4 += int32(x[4]>>4|(h[4]>>sh2&1)<<4) * int32(y[4])
				u5 += int32(x[5]>>4|(h[5]>>sh2&1)<<4) * int32(y[5])
				u6 += int32(x[6]>>4|(h[6]>>sh2&1)<<4) * int32(y[6])
				u7 += int32(x[7]>>4|(h[7]>>sh2&1)<<4) * int32(y[7])
			}
			lanes[0] += int32(sc2) * u0
			lanes[1] += int32(sc2) * u1
			lanes[2] += int32(sc2) * u2
			lanes[3] += int32(sc2) * u3
			lanes[4] += int32(sc2) * u4
			lanes[5] += int32(sc2) * u5
			lanes[6] += int32(sc2) * u6
			lanes[7] += int32(sc2) * u7
		}
		d := float32(half(b[:]) * a.d[i])
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
		b := (*[210]byte)(row[210*i:])
		q8 := (*[QK_K]int8)(a.qs[QK_K*i:])
		var lanes [8]int32
		for n := 0; n < 2; n++ { // halves of 128 elements
			ql := (*[64]byte)(b[64*n:])
			qh := (*[32]byte)(b[128+32*n:])
			for m := 0; m < 4; m++ { // 32 elements each: ql low/high nibble, qh bits 2m
				src := (*[32]byte)(ql[32*(m&1):])
				nsh := uint(4 * (m >> 1))
				hsh := uint(2 * m)
				y32 := (*[32]int8)(q8[128*n+32*m:])
				for sub := 0; sub < 2; sub++ { // sub-blocks of 16, one scale each
					sc := int32(int8(b[192+8*n+2*m+sub]))
					var t0, t1, t2, t3, t4, t5, t6, t7 int32
					for k := 16 * sub; k < 16*sub+16; k += 8 {
						x := (*[8]byte)(src[k:])
						h := (*[8]byte)(qh[k:])
						y := (*[8]int8)(y32[k:])
						t0 += (int32(x[0]>>nsh&15|(h[0]>>hsh&3)<<4) - 32) * int32(y[0])
						t1 += (int32(x[1]>>nsh&15|(h[1]>>hsh&3)<<4) - 32) * int32(y[1])
						t2 += (int32(x[2]>>nsh&15|(h[2]>>hsh&3)<<4) - 32) * int32(y[2])
						t3 += (int32(x[3]>>nsh&15|(h[3]>>hsh&3)<<4) - 32) * int32(y[3])
						t4 += (int32(x[4]>>nsh&15|(h[4]>>hsh&3)<<4) - 32) * int32(y[4])
						t5 += (int32(x[5]>>nsh&15|(h[5]>>hsh&3)<<4) - 32) * int32(y[5])
						t6 += (int32(x[6]>>nsh&15|(h[6]>>hsh&3)<<4) - 32) * int32(y[6])
						t7 += (int32(x[7]>>nsh&15|(h[7]>>hsh&3)<<4) - 32) * int32(y[7])
					}
					lanes[0] += sc * t0
					lanes[1] += sc * t1
					lanes[2] += sc * t2
					lanes[3] += sc * t3
					lanes[4] += sc * t4
					lanes[5] += sc * t5
					lanes[6] += sc * t6
					lanes[7] += sc * t7
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
