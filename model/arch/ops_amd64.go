//go:build !noasm

package arch

import "golang.org/x/sys/cpu"

// haveExpAVX512 and haveExpAVX2 select the AVX-512 and AVX2 forms of
// swiglu and expSub; tests switch them off to compare them with the
// pure-Go ones.
var (
	haveExpAVX512 = cpu.X86.HasAVX512F
	haveExpAVX2   = cpu.X86.HasAVX2
)

// swigluAVX512 is swigluGo on a[:n] and u[:n].
//
//go:noescape
func swigluAVX512(a, u *float32, n int)

// expSubAVX512 is expSubGo on s[:n].
//
//go:noescape
func expSubAVX512(s *float32, n int, m float32)

// swigluAVX2 is swigluGo on a[:n] and u[:n], n a multiple of 8.
//
//go:noescape
func swigluAVX2(a, u *float32, n int)

// expSubAVX2 is expSubGo on s[:n], n a multiple of 8.
//
//go:noescape
func expSubAVX2(s *float32, n int, m float32)

// swiglu sets a[i] = silu(a[i]) * u[i], as ggml_vec_swiglu_f32 does;
// u is at least as long as a.
func swiglu(a, u []float32) {
	if haveExpAVX512 && len(a) > 0 {
		_ = u[len(a)-1]
		swigluAVX512(&a[0], &u[0], len(a))
		return
	}
	if haveExpAVX2 && len(a) >= 8 {
		n := len(a) &^ 7
		_ = u[n-1]
		swigluAVX2(&a[0], &u[0], n)
		a, u = a[n:], u[n:]
	}
	swigluGo(a, u)
}

// expSub sets s[i] = expf(s[i] - m), the exponentials of
// ggml_vec_soft_max_f32.
func expSub(s []float32, m float32) {
	if haveExpAVX512 && len(s) > 0 {
		expSubAVX512(&s[0], len(s), m)
		return
	}
	if haveExpAVX2 && len(s) >= 8 {
		n := len(s) &^ 7
		expSubAVX2(&s[0], n, m)
		s = s[n:]
	}
	expSubGo(s, m)
}
