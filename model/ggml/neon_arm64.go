//go:build !noasm && arm64

package ggml

// The arm64 kernels: NEON assembly (neon_arm64.s) computes the exact
// integer sums of blocks (SDOT with dotprod, SMMLA with i8mm) or the
// eight integer lanes of a K-quant super-block (widening multiplies);
// the Go code here scales and accumulates them in float32 exactly as the
// pure-Go kernels (dot.go) do, so every result is bit-identical to them.
// Explicit float32(...) conversions keep the compiler from fusing a
// multiply and an add into FMADD, which it would otherwise do on arm64.

//go:noescape
func blockSumsQ8Dot(w *byte, stride int, q *int8, nb int, out *int32)

//go:noescape
func blockSumsQ4Dot(w *byte, stride int, q *int8, nb int, out *int32)

//go:noescape
func lanesQ4KNeon(qs *byte, q8 *int8, scales *int16, lanes *int32)

//go:noescape
func lanesQ6KNeon(b *byte, q8 *int8, scales *int16, lanes *int32)

//go:noescape
func blockSums2x2Q8MM(w0, w1 *byte, stride int, q0, q1 *int8, nb int, out *int32)

//go:noescape
func blockSums2x2Q4MM(w0, w1 *byte, stride int, q0, q1 *int8, nb int, out *int32)

// neonChunk is how many 32-element blocks one assembly call sums.
const neonChunk = 64

// neonKernels returns t's NEON row kernel and matrix kernel at level lv
// (nil where t has none at lv, or lv is not a NEON level).
func neonKernels(t Type, lv level) (rowDot, matKernel) {
	if lv != levelNEONDot && lv != levelNEONI8MM {
		return nil, nil
	}
	switch t {
	case Q8_0:
		if lv == levelNEONI8MM {
			return dotQ8_0Dot, matQ8_0MM
		}
		return dotQ8_0Dot, nil
	case Q4_0:
		if lv == levelNEONI8MM {
			return dotQ4_0Dot, matQ4_0MM
		}
		return dotQ4_0Dot, nil
	case Q4_K:
		return dotQ4_KNeon, nil
	case Q6_K:
		return dotQ6_KNeon, nil
	}
	return nil, nil
}

func dotQ8_0Dot(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:34*nb]
	qs := a.qs[:32*nb]
	ds := a.d[:nb]
	var sums [neonChunk]int32
	var sumf float32
	for b0 := 0; b0 < nb; b0 += neonChunk {
		n := min(neonChunk, nb-b0)
		blockSumsQ8Dot(&row[34*b0+2], 34, &qs[32*b0], n, &sums[0])
		for i, s := range sums[:n] {
			b := row[34*(b0+i):]
			dd := float32(f16Table[uint16(b[0])|uint16(b[1])<<8] * ds[b0+i])
			sumf += float32(float32(s) * dd)
		}
	}
	return sumf
}

func dotQ4_0Dot(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:18*nb]
	qs := a.qs[:32*nb]
	ds := a.d[:nb]
	var sums [neonChunk]int32
	var sumf float32
	for b0 := 0; b0 < nb; b0 += neonChunk {
		n := min(neonChunk, nb-b0)
		blockSumsQ4Dot(&row[18*b0+2], 18, &qs[32*b0], n, &sums[0])
		for i, s := range sums[:n] {
			b := row[18*(b0+i):]
			sumf += float32(float32(float32(s)*f16Table[uint16(b[0])|uint16(b[1])<<8]) * ds[b0+i])
		}
	}
	return sumf
}

func dotQ4_KNeon(row []byte, a *Activation) float32 {
	nb := a.n / QK_K
	row = row[:144*nb]
	qs := a.qs[:QK_K*nb]
	bsums := a.bsums[:16*nb]
	var sums [8]float32
	var sumf float32
	var scales [8]int16
	var lanes [8]int32
	for i := 0; i < nb; i++ {
		b := (*[144]byte)(row[144*i:])
		bs := (*[16]int16)(bsums[16*i:])
		sc := b[4:16]
		var summ int32
		for j := 0; j < 8; j++ {
			s, m := scaleMinK4(j, sc)
			scales[j] = int16(s)
			summ += (int32(bs[2*j]) + int32(bs[2*j+1])) * int32(m)
		}
		lanesQ4KNeon(&b[16], &qs[QK_K*i], &scales[0], &lanes[0])
		d := float32(half(b[:]) * a.d[i])
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(lanes[l]))
		}
		dmin := float32(half(b[2:]) * a.d[i])
		sumf -= float32(dmin * float32(summ))
	}
	return finishK8(sumf, &sums)
}

func dotQ6_KNeon(row []byte, a *Activation) float32 {
	nb := a.n / QK_K
	row = row[:210*nb]
	qs := a.qs[:QK_K*nb]
	var sums [8]float32
	var scales [16]int16
	var lanes [8]int32
	for i := 0; i < nb; i++ {
		b := (*[210]byte)(row[210*i:])
		for j := 0; j < 16; j++ {
			scales[j] = int16(int8(b[192+j]))
		}
		lanesQ6KNeon(&b[0], &qs[QK_K*i], &scales[0], &lanes[0])
		d := float32(half(b[208:]) * a.d[i])
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(lanes[l]))
		}
	}
	return finishK8(0, &sums)
}

// mat2x2 runs the matrix kernel of Q8_0 or (q4) Q4_0 in tiles of two
// rows × two activations: SMMLA computes the four exact integer sums of
// each block, and the Go code adds them into float32 results the way the
// type's pure-Go kernel does. Rows and activations left over from the
// pairs go through the row kernel. (The assembly is called directly, not
// through a function value, so that out stays on the stack.)
func mat2x2(q4 bool, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	bytes, dot := 34, rowDot(dotQ8_0Dot)
	if q4 {
		bytes, dot = 18, dotQ4_0Dot
	}
	const off = 2 // the quants follow the F16 scale
	var out [4 * neonChunk]int32
	r := r0
	for ; r+2 <= r1; r += 2 {
		w0, w1 := w[r*rs:(r+1)*rs], w[(r+1)*rs:(r+2)*rs]
		i := 0
		for ; i+2 <= len(xs); i += 2 {
			a0, a1 := xs[i], xs[i+1]
			nb := a0.n / 32
			if nb == 0 {
				ys[i][r], ys[i+1][r], ys[i][r+1], ys[i+1][r+1] = 0, 0, 0, 0
				continue
			}
			w0, w1 := w0[:bytes*nb], w1[:bytes*nb]
			q0, q1 := a0.qs[:32*nb], a1.qs[:32*nb]
			d0, d1 := a0.d[:nb], a1.d[:nb]
			var s00, s01, s10, s11 float32
			for b0 := 0; b0 < nb; b0 += neonChunk {
				n := min(neonChunk, nb-b0)
				if q4 {
					blockSums2x2Q4MM(&w0[bytes*b0+off], &w1[bytes*b0+off], bytes, &q0[32*b0], &q1[32*b0], n, &out[0])
				} else {
					blockSums2x2Q8MM(&w0[bytes*b0+off], &w1[bytes*b0+off], bytes, &q0[32*b0], &q1[32*b0], n, &out[0])
				}
				for k := 0; k < n; k++ {
					b := b0 + k
					wd0 := f16Table[uint16(w0[bytes*b])|uint16(w0[bytes*b+1])<<8]
					wd1 := f16Table[uint16(w1[bytes*b])|uint16(w1[bytes*b+1])<<8]
					s := (*[4]int32)(out[4*k:])
					if q4 {
						s00 = accumQ4_0(s00, s[0], wd0, d0[b])
						s01 = accumQ4_0(s01, s[1], wd0, d1[b])
						s10 = accumQ4_0(s10, s[2], wd1, d0[b])
						s11 = accumQ4_0(s11, s[3], wd1, d1[b])
					} else {
						s00 = accumQ8_0(s00, s[0], wd0, d0[b])
						s01 = accumQ8_0(s01, s[1], wd0, d1[b])
						s10 = accumQ8_0(s10, s[2], wd1, d0[b])
						s11 = accumQ8_0(s11, s[3], wd1, d1[b])
					}
				}
			}
			ys[i][r], ys[i+1][r], ys[i][r+1], ys[i+1][r+1] = s00, s01, s10, s11
		}
		for ; i < len(xs); i++ {
			ys[i][r], ys[i][r+1] = dot(w0, xs[i]), dot(w1, xs[i])
		}
	}
	rowLoop(dot, w, rs, r, r1, xs, ys)
}

// accumQ8_0 is dotQ8_0's step: sumi·(d_w·d_a).
func accumQ8_0(sumf float32, s int32, wd, ad float32) float32 {
	return sumf + float32(float32(s)*float32(wd*ad))
}

// accumQ4_0 is dotQ4_0's step: (sumi·d_w)·d_a.
func accumQ4_0(sumf float32, s int32, wd, ad float32) float32 {
	return sumf + float32(float32(float32(s)*wd)*ad)
}

func matQ8_0MM(_ *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	mat2x2(false, w, rs, r0, r1, xs, ys)
}

func matQ4_0MM(_ *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	mat2x2(true, w, rs, r0, r1, xs, ys)
}
