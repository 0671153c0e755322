package arch

// SwiGLU sets a[i] = silu(a[i])·u[i] with the engine's float32
// exponential (ggml's expf, up to 1.45 ulp from the correctly rounded
// value), in the fastest form this CPU runs; u is at least as long as a.
// model/train uses it so that its forward pass rounds as the engine does.
func SwiGLU(a, u []float32) { swigluAt(expBest, a, u) }

// ExpSub sets s[i] = expf(s[i] − m) with the engine's float32 exponential,
// in the fastest form this CPU runs (the exponentials of softmax).
func ExpSub(s []float32, m float32) { expSubAt(expBest, s, m) }
