//go:build !noasm

package arch

import "golang.org/x/sys/cpu"

// haveExpAVX512 selects the AVX-512 forms of swiglu and expSub; tests
// switch it off to compare them with the pure-Go ones.
var haveExpAVX512 = cpu.X86.HasAVX512F

// swigluAVX512 is swigluGo on a[:n] and u[:n].
//
//go:noescape
func swigluAVX512(a, u *float32, n int)

// expSubAVX512 is expSubGo on s[:n].
//
//go:noescape
func expSubAVX512(s *float32, n int, m float32)

// swiglu sets a[i] = silu(a[i]) * u[i], as ggml_vec_swiglu_f32 does;
// u is at least as long as a.
func swiglu(a, u []float32) {
	if haveExpAVX512 && len(a) > 0 {
		_ = u[len(a)-1]
		swigluAVX512(&a[0], &u[0], len(a))
		return
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
	expSubGo(s, m)
}
