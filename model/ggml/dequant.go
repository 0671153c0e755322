package ggml

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrUnsupported is returned for a tensor type an operation does not handle.
var ErrUnsupported = errors.New("ggml: unsupported tensor type")

// ErrSize is returned when a buffer does not hold the number of elements or
// bytes asked for.
var ErrSize = errors.New("ggml: size mismatch")

func le16(b []byte) uint16  { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32  { return binary.LittleEndian.Uint32(b) }
func half(b []byte) float32 { return FP16ToFP32(le16(b)) }

// checkSizes validates that src holds exactly n elements of type t.
func checkSizes(t Type, src []byte, n int) error {
	if !t.Known() {
		return fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	want, err := t.RowSize(int64(n))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSize, err)
	}
	if int64(len(src)) != want {
		return fmt.Errorf("%w: %s: %d elements need %d bytes, got %d", ErrSize, t, n, want, len(src))
	}
	return nil
}

// Dequantize converts len(dst) elements of type t from src into dst, with
// the arithmetic of ggml's dequantize_row_* functions. src must hold exactly
// len(dst) elements. Any bytes are accepted: NaN or Inf scales give NaN or
// Inf values, never a panic.
func Dequantize(t Type, src []byte, dst []float32) error {
	if err := checkSizes(t, src, len(dst)); err != nil {
		return err
	}
	dq := typeInfos[t].dequantize
	if dq == nil {
		return fmt.Errorf("%w: cannot dequantize %s", ErrUnsupported, t)
	}
	dq(src, dst)
	return nil
}

func dequantF32(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = math.Float32frombits(le32(src[4*i:]))
	}
}

func dequantF16(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = FP16ToFP32(le16(src[2*i:]))
	}
}

func dequantBF16(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = BF16ToFP32(le16(src[2*i:]))
	}
}

// block_q4_0: d f16, qs[16]; element j in the low nibble of qs[j], element
// j+16 in the high nibble.
func dequantQ4_0(b []byte, y []float32) {
	d := half(b)
	qs := b[2:18]
	for j := 0; j < 16; j++ {
		y[j] = float32(int32(qs[j]&0x0f)-8) * d
		y[j+16] = float32(int32(qs[j]>>4)-8) * d
	}
}

// block_q4_1: d f16, m f16, qs[16].
func dequantQ4_1(b []byte, y []float32) {
	d, m := half(b), half(b[2:])
	qs := b[4:20]
	for j := 0; j < 16; j++ {
		y[j] = float32(float32(qs[j]&0x0f)*d) + m
		y[j+16] = float32(float32(qs[j]>>4)*d) + m
	}
}

// block_q5_0: d f16, qh[4] (fifth bits), qs[16].
func dequantQ5_0(b []byte, y []float32) {
	d := half(b)
	qh := le32(b[2:])
	qs := b[6:22]
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>j<<4) & 0x10
		h1 := byte(qh>>(j+12)) & 0x10
		y[j] = float32(int32(qs[j]&0x0f|h0)-16) * d
		y[j+16] = float32(int32(qs[j]>>4|h1)-16) * d
	}
}

// block_q5_1: d f16, m f16, qh[4], qs[16].
func dequantQ5_1(b []byte, y []float32) {
	d, m := half(b), half(b[2:])
	qh := le32(b[4:])
	qs := b[8:24]
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>j<<4) & 0x10
		h1 := byte(qh>>(j+12)) & 0x10
		y[j] = float32(float32(qs[j]&0x0f|h0)*d) + m
		y[j+16] = float32(float32(qs[j]>>4|h1)*d) + m
	}
}

// block_q8_0: d f16, qs[32] int8.
func dequantQ8_0(b []byte, y []float32) {
	d := half(b)
	for j := 0; j < 32; j++ {
		y[j] = float32(int8(b[2+j])) * d
	}
}

// block_q8_1: d f16, s f16, qs[32] int8 (s is not needed to dequantize).
func dequantQ8_1(b []byte, y []float32) {
	d := half(b)
	for j := 0; j < 32; j++ {
		y[j] = float32(int8(b[4+j])) * d
	}
}

// block_q8_K: d f32, qs[256] int8, bsums[16] int16.
func dequantQ8_K(b []byte, y []float32) {
	d := math.Float32frombits(le32(b))
	for j := 0; j < QK_K; j++ {
		y[j] = d * float32(int8(b[4+j]))
	}
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K/Q5_K block
// (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0x0f | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// block_q4_K: d f16, dmin f16, scales[12], qs[128].
func dequantQ4_K(b []byte, y []float32) {
	d, min := half(b), half(b[2:])
	scales := b[4:16]
	q := b[16:144]
	is := 0
	for j := 0; j < QK_K; j += 64 {
		sc, m := scaleMinK4(is, scales)
		d1, m1 := d*float32(sc), float32(min*float32(m))
		sc, m = scaleMinK4(is+1, scales)
		d2, m2 := d*float32(sc), float32(min*float32(m))
		for l := 0; l < 32; l++ {
			y[j+l] = float32(d1*float32(q[l]&0x0f)) - m1
		}
		for l := 0; l < 32; l++ {
			y[j+32+l] = float32(d2*float32(q[l]>>4)) - m2
		}
		q = q[32:]
		is += 2
	}
}

// block_q5_K: d f16, dmin f16, scales[12], qh[32], qs[128].
func dequantQ5_K(b []byte, y []float32) {
	d, min := half(b), half(b[2:])
	scales := b[4:16]
	qh := b[16:48]
	ql := b[48:176]
	is := 0
	u1, u2 := byte(1), byte(2)
	for j := 0; j < QK_K; j += 64 {
		sc, m := scaleMinK4(is, scales)
		d1, m1 := d*float32(sc), float32(min*float32(m))
		sc, m = scaleMinK4(is+1, scales)
		d2, m2 := d*float32(sc), float32(min*float32(m))
		for l := 0; l < 32; l++ {
			v := int32(ql[l] & 0x0f)
			if qh[l]&u1 != 0 {
				v += 16
			}
			y[j+l] = float32(d1*float32(v)) - m1
		}
		for l := 0; l < 32; l++ {
			v := int32(ql[l] >> 4)
			if qh[l]&u2 != 0 {
				v += 16
			}
			y[j+32+l] = float32(d2*float32(v)) - m2
		}
		ql = ql[32:]
		is += 2
		u1 <<= 2
		u2 <<= 2
	}
}

// block_q6_K: ql[128], qh[64], scales[16] int8, d f16.
func dequantQ6_K(b []byte, y []float32) {
	d := half(b[208:])
	ql, qh, sc := b[0:128], b[128:192], b[192:208]
	for n := 0; n < QK_K; n += 128 {
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int32(ql[l]&0x0f|(qh[l]>>0&3)<<4) - 32
			q2 := int32(ql[l+32]&0x0f|(qh[l]>>2&3)<<4) - 32
			q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			y[n+l] = float32(d*float32(int8(sc[is]))) * float32(q1)
			y[n+l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
			y[n+l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
			y[n+l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
		}
		ql, qh, sc = ql[64:], qh[32:], sc[8:]
	}
}

// block_q2_K: scales[16], qs[64], d f16, dmin f16.
func dequantQ2_K(b []byte, y []float32) {
	scales, q := b[0:16], b[16:80]
	d, min := half(b[80:]), half(b[82:])
	is, o := 0, 0
	for n := 0; n < QK_K; n += 128 {
		shift := uint(0)
		for j := 0; j < 4; j++ {
			sc := scales[is]
			is++
			dl, ml := d*float32(sc&0x0f), float32(min*float32(sc>>4))
			for l := 0; l < 16; l++ {
				y[o] = float32(dl*float32(q[l]>>shift&3)) - ml
				o++
			}
			sc = scales[is]
			is++
			dl, ml = d*float32(sc&0x0f), float32(min*float32(sc>>4))
			for l := 0; l < 16; l++ {
				y[o] = float32(dl*float32(q[l+16]>>shift&3)) - ml
				o++
			}
			shift += 2
		}
		q = q[32:]
	}
}

// q3KScales unpacks the sixteen 6-bit scales of a Q3_K block (biased by 32).
func q3KScales(s []byte) [16]int8 {
	var aux [4]uint32
	for i := 0; i < 3; i++ {
		aux[i] = le32(s[4*i:])
	}
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	tmp := aux[2]
	aux[2] = (aux[0]>>4)&kmask2 | ((tmp>>4)&kmask1)<<4
	aux[3] = (aux[1]>>4)&kmask2 | ((tmp>>6)&kmask1)<<4
	aux[0] = aux[0]&kmask2 | ((tmp>>0)&kmask1)<<4
	aux[1] = aux[1]&kmask2 | ((tmp>>2)&kmask1)<<4
	var out [16]int8
	for i := 0; i < 16; i++ {
		out[i] = int8(aux[i/4] >> (8 * (i % 4)))
	}
	return out
}

// block_q3_K: hmask[32], qs[64], scales[12], d f16.
func dequantQ3_K(b []byte, y []float32) {
	hm, q := b[0:32], b[32:96]
	scales := q3KScales(b[96:108])
	dAll := half(b[108:])
	m := byte(1)
	is, o := 0, 0
	for n := 0; n < QK_K; n += 128 {
		shift := uint(0)
		for j := 0; j < 4; j++ {
			dl := dAll * float32(int32(scales[is])-32)
			is++
			for l := 0; l < 16; l++ {
				v := int32(q[l] >> shift & 3)
				if hm[l]&m == 0 {
					v -= 4
				}
				y[o] = dl * float32(v)
				o++
			}
			dl = dAll * float32(int32(scales[is])-32)
			is++
			for l := 0; l < 16; l++ {
				v := int32(q[l+16] >> shift & 3)
				if hm[l+16]&m == 0 {
					v -= 4
				}
				y[o] = dl * float32(v)
				o++
			}
			shift += 2
			m <<= 1
		}
		q = q[32:]
	}
}
