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

// ScoresF16 computes the attention scores of a query against the keys of
// len(dst) positions stored transposed: element d of position i at
// kT[d*stride+i]. dst[i] = float32(Σ_d q[d]·k[d][i]) * scale, the products
// taken in float32 and summed in float64 in order of d, as
// ggml_vec_dot_f16 (portable form) does for each key row; q holds the
// query rounded to F16 and widened. Each position is summed on its own,
// so vector lanes over positions give the same bits.
// It runs BestKernels' form; see Kernels.ScoresF16.
func ScoresF16(dst []float32, kT []uint16, stride int, q []float32, scale float32) {
	scoresF16(BestKernels().attn, dst, kT, stride, q, scale)
}

// ScoresF16 is the package-level ScoresF16 in the set's form.
func (k *Kernels) ScoresF16(dst []float32, kT []uint16, stride int, q []float32, scale float32) {
	scoresF16(k.attn, dst, kT, stride, q, scale)
}

// scoresF16 is ScoresF16 with the kernels of level lv.
func scoresF16(lv vecLevel, dst []float32, kT []uint16, stride int, q []float32, scale float32) {
	if len(dst) == 0 || len(q) == 0 {
		return
	}
	if len(dst) > stride || len(kT) < (len(q)-1)*stride+len(dst) {
		panic("ggml: ScoresF16: keys shorter than the query and positions")
	}
	if scoresF16Asm(lv, dst, kT, stride, q, scale) {
		return
	}
	scoresF16Go(dst, kT, stride, q, scale)
}

func scoresF16Go(dst []float32, kT []uint16, stride int, q []float32, scale float32) {
	n := len(dst)
	var sums [64]float64
	for i0 := 0; i0 < n; i0 += len(sums) {
		s := sums[:min(len(sums), n-i0)]
		clear(s)
		for d, qd := range q {
			row := kT[d*stride+i0 : d*stride+i0+len(s)]
			for i, k := range row {
				s[i] += float64(qd * f16Table[k])
			}
		}
		for i, v := range s {
			dst[i0+i] = float32(v) * scale
		}
	}
}

// AccumulateF16 adds the F16 value rows weighted by p to acc:
// acc[d] += float64(p[j]·v[j][d]) for every j in order (skipping zero
// weights) and d < len(acc), row j starting at values[j*stride]. The
// products are taken in float32 and summed in float64 in order of j, as
// the output of llama.cpp's attention, a ggml_vec_dot_f16 of each column
// of Vᵀ with the F16 weights, does.
// It runs BestKernels' form; see Kernels.AccumulateF16.
func AccumulateF16(acc []float64, values []uint16, stride int, p []float32) {
	accumulateF16(BestKernels().attn, acc, values, stride, p)
}

// AccumulateF16 is the package-level AccumulateF16 in the set's form.
func (k *Kernels) AccumulateF16(acc []float64, values []uint16, stride int, p []float32) {
	accumulateF16(k.attn, acc, values, stride, p)
}

// accumulateF16 is AccumulateF16 with the kernels of level lv.
func accumulateF16(lv vecLevel, acc []float64, values []uint16, stride int, p []float32) {
	if len(acc) == 0 || len(p) == 0 {
		return
	}
	if len(acc) > stride || len(values) < (len(p)-1)*stride+len(acc) {
		panic("ggml: AccumulateF16: values shorter than the weights and row")
	}
	if accumulateF16Asm(lv, acc, values, stride, p) {
		return
	}
	accumulateF16Go(acc, values, stride, p)
}

func accumulateF16Go(acc []float64, values []uint16, stride int, p []float32) {
	for j, w := range p {
		if w == 0 {
			continue
		}
		row := values[j*stride : j*stride+len(acc)]
		for d, v := range row {
			acc[d] += float64(w * f16Table[v])
		}
	}
}
