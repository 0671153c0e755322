//go:build noasm || !amd64

package arch

// haveExpAVX512 and haveExpAVX2 are always false without the assembly
// kernels.
var haveExpAVX512, haveExpAVX2 = false, false

// swiglu sets a[i] = silu(a[i]) * u[i], as ggml_vec_swiglu_f32 does;
// u is at least as long as a.
func swiglu(a, u []float32) { swigluGo(a, u) }

// expSub sets s[i] = expf(s[i] - m), the exponentials of
// ggml_vec_soft_max_f32.
func expSub(s []float32, m float32) { expSubGo(s, m) }
