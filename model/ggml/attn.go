package ggml

// Helpers for attention over an F16 KV cache, mirroring what llama.cpp's
// CPU backend does there.
//
// Without flash attention, scores are mul_mat(K, q): q is rounded to F16
// (F16's vec_dot type is F16) and each score is DotF16(k_row, q16); the
// output is mul_mat(Vᵀ, softmax(scores)), so the attention weights are
// rounded to F16 as well and each output element is DotF16 of a V column
// (a row of Vᵀ) with them.
//
// With flash attention (llama.cpp's default "auto" turns it on for the CPU
// backend), q is rounded to F16, each score is DotF16(k_row, q16), and the
// output accumulates in F16 with an online softmax: for each position,
// when the score s raises the running maximum M, the accumulator is
// rescaled with ScaleF16(acc, expf(Mold-M)); then MadF16(acc, v_row,
// expf(s-M)) adds the value row (vs = 1 when s set the new maximum). The
// sum of the weights and the final division stay in float32.

// MadF16 computes y[i] += x[i]*v in F16 storage (ggml_vec_mad_f16): each
// element is widened, multiplied and added with one rounding, as the
// AVX2/F16C build's fused multiply-add does, and rounded back to F16.
func MadF16(y, x []uint16, v float32) {
	x = x[:len(y)]
	for i, h := range y {
		s := float64(f16Table[x[i]])*float64(v) + float64(f16Table[h])
		y[i] = FP32ToFP16(float32(s))
	}
}

// ScaleF16 computes y[i] *= v in F16 storage (ggml_vec_scale_f16).
func ScaleF16(y []uint16, v float32) {
	for i, h := range y {
		y[i] = FP32ToFP16(f16Table[h] * v)
	}
}

// FromF16 widens src into dst (ggml_fp16_to_fp32_row).
func FromF16(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = f16Table[src[i]]
	}
}
