package ggml

import (
	"encoding/binary"
	"math"
)

// Plain reference kernels for the differential tests: a literal reading of
// ggml's portable vec_dot functions on raw ggml-layout bytes of both
// operands (the activation through Activation.Bytes), with none of the
// restructuring the real kernels do.

func refI8(b []byte, i int) int32 { return int32(int8(b[i])) }

func refDot(t Type, w, act []byte, n int) float32 {
	switch t {
	case F32:
		var s float64
		for i := 0; i < n; i++ {
			x := math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:]))
			y := math.Float32frombits(binary.LittleEndian.Uint32(act[4*i:]))
			s += float64(float32(x * y))
		}
		return float32(s)
	case F16, BF16:
		conv := FP16ToFP32
		if t == BF16 {
			conv = BF16ToFP32
		}
		var s float64
		for i := 0; i < n; i++ {
			s += float64(float32(conv(le16(w[2*i:])) * conv(le16(act[2*i:]))))
		}
		return float32(s)
	case Q4_0, Q5_0, Q8_0:
		var sumf float32
		for ib := 0; ib < n/32; ib++ {
			x := w[ib*t.TypeSize():]
			y := act[ib*34:]
			var sumi int32
			for j := 0; j < 32; j++ {
				var v int32
				switch t {
				case Q4_0:
					v = int32(x[2+j%16]>>(4*(j/16))&15) - 8
				case Q5_0:
					qh := le32(x[2:])
					v = int32(x[6+j%16]>>(4*(j/16))&15|byte(qh>>j&1)<<4) - 16
				case Q8_0:
					v = refI8(x, 2+j)
				}
				sumi += v * refI8(y, 2+j)
			}
			dx, dy := half(x), half(y)
			switch t {
			case Q4_0:
				sumf += float32(float32(float32(sumi)*dx) * dy)
			case Q5_0:
				sumf += float32(float32(dx*dy) * float32(sumi))
			default:
				sumf += float32(float32(sumi) * float32(dx*dy))
			}
		}
		return sumf
	case Q4_1, Q5_1:
		var sumf float32
		for ib := 0; ib < n/32; ib++ {
			x := w[ib*t.TypeSize():]
			y := act[ib*36:]
			var sumi int32
			for j := 0; j < 32; j++ {
				var v int32
				if t == Q4_1 {
					v = int32(x[4+j%16] >> (4 * (j / 16)) & 15)
				} else {
					qh := le32(x[4:])
					v = int32(x[8+j%16]>>(4*(j/16))&15 | byte(qh>>j&1)<<4)
				}
				sumi += v * refI8(y, 4+j)
			}
			sumf += float32(float32(float32(half(x)*half(y))*float32(sumi)) + float32(half(x[2:])*half(y[2:])))
		}
		return sumf
	case Q4_K, Q5_K, Q6_K:
		var sums [8]float32
		var sumf float32
		for i := 0; i < n/QK_K; i++ {
			x := w[i*t.TypeSize() : (i+1)*t.TypeSize()]
			y := act[i*292:]
			yd := math.Float32frombits(le32(y))
			var aux8 [QK_K]int32
			var scale [QK_K / 16]int32 // per 16 elements
			var sumi int32
			var d, dmin float32
			switch t {
			case Q4_K, Q5_K:
				vals := make([]float32, QK_K)
				// levels from Dequantize's unpacking are independent of the
				// kernels: recover them from a block with d=1, dmin=0.
				blk := append([]byte(nil), x...)
				binary.LittleEndian.PutUint16(blk, 0x3c00) // d = 1
				binary.LittleEndian.PutUint16(blk[2:], 0)  // dmin = 0
				if t == Q4_K {
					dequantQ4_K(blk, vals)
				} else {
					dequantQ5_K(blk, vals)
				}
				for s := 0; s < 8; s++ {
					sc, m := scaleMinK4(s, x[4:16])
					for k := 0; k < 32; k++ {
						if sc != 0 {
							aux8[32*s+k] = int32(vals[32*s+k]) / int32(sc)
						}
					}
					scale[2*s], scale[2*s+1] = int32(sc), int32(sc)
					// a zero scale hides the level; it is multiplied by 0 anyway
					sumi += (int32(int16(le16(y[4+QK_K+4*s:]))) + int32(int16(le16(y[4+QK_K+4*s+2:])))) * int32(m)
				}
				d = float32(half(x) * yd)
				dmin = float32(half(x[2:]) * yd)
			case Q6_K:
				for e := 0; e < QK_K; e++ {
					h, l := e/128, e%128
					q, hs := x[64*h+l%64], x[128+32*h+l%32]
					lowNibble := q & 15
					if l >= 64 {
						lowNibble = q >> 4
					}
					aux8[e] = int32(lowNibble|(hs>>(2*(l/32))&3)<<4) - 32
					scale[e/16] = refI8(x, 192+e/16)
				}
				d = float32(half(x[208:]) * yd)
			}
			var aux32 [8]int32
			for e := 0; e < QK_K; e++ {
				aux32[e%8] += scale[e/16] * aux8[e] * refI8(y, 4+e)
			}
			for l := 0; l < 8; l++ {
				sums[l] += float32(d * float32(aux32[l]))
			}
			sumf -= float32(dmin * float32(sumi))
		}
		for l := 0; l < 8; l++ {
			sumf += sums[l]
		}
		return sumf
	}
	panic("refDot: no reference for " + t.String())
}
