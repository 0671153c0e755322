package ggml

import "math"

// Half-precision conversions, bit for bit as ggml's CPU code does them.
//
// FP32ToFP16 rounds to nearest, ties to even (the result of ggml's
// GGML_FP32_TO_FP16 and of the F16C instruction), overflows to ±Inf and turns
// every NaN into the quiet NaN 0x7E00 with the input's sign, as ggml's
// portable conversion does.

// f16Table holds the float32 value of every half-precision bit pattern.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = fp16ToFP32Slow(uint16(i))
	}
	return &t
}()

// FP16ToFP32 widens an IEEE half-precision value (exact).
func FP16ToFP32(h uint16) float32 { return f16Table[h] }

func fp16ToFP32Slow(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f && man == 0:
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0x1f: // NaN: keeps its payload and, like ggml's, comes out quiet
		return math.Float32frombits(sign | 0x7fc00000 | man<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	default: // subnormal: man * 2^-24, exact in float32
		v := float32(man) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(v))
	}
}

// FP32ToFP16 narrows f to half precision the way ggml does.
func FP32ToFP16(f float32) uint16 {
	const (
		scaleToInf  = float32(0x1p+112)
		scaleToZero = float32(0x1p-110)
	)
	w := math.Float32bits(f)
	sign := uint16(w>>16) & 0x8000
	twice := w + w // the sign shifted out
	if twice > 0xff000000 {
		return sign | 0x7e00 // NaN
	}
	// Multiplying by 2^112 and then 2^-110 leaves |f|*4 for numbers in
	// range, overflows to Inf for numbers too large for half precision.
	base := float32(float32(abs32(f)*scaleToInf) * scaleToZero)
	// Adding a power of two chosen from f's exponent makes the float32
	// adder round the mantissa to the 10 bits half precision keeps.
	bias := twice & 0xff000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits(bias>>1+0x07800000) + base
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x7c00
	manBits := bits & 0x0fff
	return sign | uint16(expBits+manBits)
}

// BF16ToFP32 widens a bfloat16 value (exact).
func BF16ToFP32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// FP32ToBF16 narrows f to bfloat16 as ggml's GGML_FP32_TO_BF16: round to
// nearest even; a NaN keeps its top bits and is made quiet.
func FP32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
