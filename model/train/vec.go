package train

import "unsafe"

// float is the element type of the differentiable operations: float32 in
// training, float64 in the finite-difference tests.
type float interface{ ~float32 | ~float64 }

// dot is Σ a[i]·b[i]. On float32 it runs the SIMD kernel where the CPU
// has one (fused multiply-adds in eight lanes, so its rounding differs
// from a sequential sum's).
func dot[F float](a, b []F) F {
	b = b[:len(a)]
	if unsafe.Sizeof(F(0)) == 4 && len(a) > 0 {
		return F(dot32(f32s(a), f32s(b)))
	}
	var s F
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// axpy adds a·x to y.
func axpy[F float](y []F, a F, x []F) {
	x = x[:len(y)]
	if unsafe.Sizeof(F(0)) == 4 && len(y) > 0 {
		axpy32(f32s(y), float32(a), f32s(x))
		return
	}
	for i, v := range x {
		y[i] += a * v
	}
}

// f32s views a float32-shaped slice as []float32.
func f32s[F float](s []F) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGo(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] += a * v
	}
}
