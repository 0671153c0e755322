package train

import "math"

// Causal attention in float32 with the register-blocked kernel
// (gemm4x16): the scores of four query rows at a time against sixteen
// keys, the weighted sums of the values sixteen dimensions at a time,
// and in the backward pass the same products over whole n×n matrices of
// one head's weights and score gradients (and their transposes). It
// computes what attendHead and attendHeadBack compute (those are the
// reference: TestBlockedAttention compares them), with the sums in
// another order. Keys a row does not see get the weight 0, so a row
// of a pair's second answer (layout) adds exactly what its own sequence's
// pass adds.

// blockedAttention says the blocked kernels serve heads of dim values.
func blockedAttention(dim int) bool { return haveGemm() && dim%16 == 0 }

// attnScratch is one worker's buffers for the blocked attention of n
// rows: n16 is n rounded up to 16.
type attnScratch struct {
	n, n16, dim  int
	kt, vt       []float32 // Kᵀ, Vᵀ (dim × n16)
	p, ds        []float32 // weights, score gradients (n × n16)
	pt, dst      []float32 // their transposes (n × n16)
	zeros, waste []float32 // a row of zeros and a row to write nothing to
}

func newAttnScratch(n, dim int, backward bool) *attnScratch {
	n16 := (n + 15) / 16 * 16
	s := &attnScratch{n: n, n16: n16, dim: dim, kt: make([]float32, dim*n16),
		zeros: make([]float32, max(n16, dim)), waste: make([]float32, max(n16, dim))}
	if backward {
		s.vt = make([]float32, dim*n16)
		s.p, s.ds = make([]float32, n*n16), make([]float32, n*n16)
		s.pt, s.dst = make([]float32, n*n16), make([]float32, n*n16)
	} else {
		s.p = make([]float32, 4*n16)
	}
	return s
}

// scratch returns worker w's buffers for n rows, reusing m's.
func (m *Model) attnScratch(w, n, dim int, backward bool) *attnScratch {
	for len(m.attnBufs) <= w {
		m.attnBufs = append(m.attnBufs, nil)
	}
	s := m.attnBufs[w]
	if s == nil || s.n != n || s.dim != dim || backward && s.vt == nil {
		s = newAttnScratch(n, dim, backward)
		m.attnBufs[w] = s
	}
	return s
}

// transposeInto writes the head's rows of x (n rows of dim values at
// x.row) as dim rows of n16 values into dst.
func transposeInto(dst []float32, x headView[float32], n, n16, dim int) {
	for j := range n {
		for e, v := range x.row(j, dim) {
			dst[e*n16+j] = v
		}
	}
}

// rowPtrs points at row i0+k of x (offset off) for the four rows k, or
// at fill where the row is past n.
func rowPtrs(p *[4]*float32, x headView[float32], i0, n, off int, fill []float32) {
	for k := range 4 {
		if i := i0 + k; i < n {
			p[k] = &x.data[i*x.stride+x.off+off]
		} else {
			p[k] = &fill[0]
		}
	}
}

// weights writes into p (rows i0..i0+3 of n16 values, from row pi0 of p)
// scale·q_i·k_j for the keys row i sees and −Inf for those it does not
// (j ≤ i), and zero past i; it returns the columns written (the last
// row's i+1, at most n).
func (s *attnScratch) scores(p []float32, pi0 int, q headView[float32], i0, g0, g1 int, scale float32) int {
	n, n16, dim := s.n, s.n16, s.dim
	cols := min(i0+4, n)
	var dx, dy [4]*float32
	rowPtrs(&dy, q, i0, n, 0, s.zeros)
	for k := range 4 {
		if i0+k < n {
			clear(p[(pi0+k)*n16 : (pi0+k+1)*n16])
		}
	}
	for j0, nc := 0, 0; j0 < cols; j0 += nc {
		nc = width32(j0, n16)
		if j0 >= g0 && j0+nc <= g1 && i0 >= g1 {
			continue // keys no row of the block sees
		}
		for k := range 4 {
			if i0+k < n {
				dx[k] = &p[(pi0+k)*n16+j0]
			} else {
				dx[k] = &s.waste[0]
			}
		}
		gemm4xN(nc, &dx, &dy, s.kt[j0:], n16, dim)
	}
	for k := range 4 {
		i := i0 + k
		if i >= n {
			break
		}
		row := p[(pi0+k)*n16 : (pi0+k+1)*n16]
		e0, s1 := visible(i, g0, g1)
		for j := range i + 1 {
			if j >= e0 && j < s1 {
				row[j] = float32(math.Inf(-1))
			} else {
				row[j] *= scale
			}
		}
		clear(row[i+1:])
	}
	return cols
}

// width32 is how many columns from c0 on (of limit, a multiple of 16) one
// kernel call takes: 32 where they fit, else 16.
func width32(c0, limit int) int {
	if c0+32 <= limit {
		return 32
	}
	return 16
}

// gemm4xN is gemm4x32 for nc = 32, else gemm4x16: the same sums either
// way.
func gemm4xN(nc int, dx, dy *[4]*float32, w []float32, wstride, nr int) {
	if nc == 32 {
		gemm4x32(dx, dy, w, wstride, nr)
	} else {
		gemm4x16(dx, dy, w, wstride, nr)
	}
}

// attendHeadBlocked is attendHead with the blocked kernels.
func attendHeadBlocked(s *attnScratch, out, q, k, v headView[float32], lse []float32, g0, g1 int, scale float32) {
	n, n16, dim := s.n, s.n16, s.dim
	transposeInto(s.kt, k, n, n16, dim)
	var dx, dy [4]*float32
	for i0 := 0; i0 < n; i0 += 4 {
		cols := s.scores(s.p, 0, q, i0, g0, g1, scale)
		for kk := range 4 {
			i := i0 + kk
			if i >= n {
				break
			}
			row := s.p[kk*n16 : kk*n16+i+1]
			m := float32(math.Inf(-1))
			for _, x := range row {
				m = max(m, x)
			}
			expSub(row, m)
			var sum float64
			for _, e := range row {
				sum += float64(e)
			}
			lse[i] = m + float32(math.Log(sum))
			inv := float32(1 / sum)
			for j := range row {
				row[j] *= inv
			}
			clear(out.row(i, dim))
		}
		// out_i += Σ_j p_ij·v_j, sixteen dimensions at a time
		for kk := range 4 {
			dy[kk] = &s.p[kk*n16]
		}
		for c0, nc := 0, 0; c0 < dim; c0 += nc {
			nc = width32(c0, dim)
			rowPtrs(&dx, out, i0, n, c0, s.waste)
			gemm4xN(nc, &dx, &dy, v.data[v.off+c0:], v.stride, cols)
		}
	}
}

// attendHeadBackBlocked is attendHeadBack with the blocked kernels: dq,
// dk and dv receive the gradients added.
func attendHeadBackBlocked(s *attnScratch, dq, dk, dv, q, k, v, out, dout headView[float32], lse []float32, g0, g1 int, scale float32) {
	n, n16, dim := s.n, s.n16, s.dim
	transposeInto(s.kt, k, n, n16, dim)
	transposeInto(s.vt, v, n, n16, dim)
	var dx, dy [4]*float32
	for i0 := 0; i0 < n; i0 += 4 {
		cols := s.scores(s.p, i0, q, i0, g0, g1, scale)
		// dP = dO·Vᵀ into ds
		rowPtrs(&dy, dout, i0, n, 0, s.zeros)
		for kk := range 4 {
			if i0+kk < n {
				clear(s.ds[(i0+kk)*n16 : (i0+kk+1)*n16])
			}
		}
		for j0, nc := 0, 0; j0 < cols; j0 += nc {
			nc = width32(j0, n16)
			for kk := range 4 {
				if i0+kk < n {
					dx[kk] = &s.ds[(i0+kk)*n16+j0]
				} else {
					dx[kk] = &s.waste[0]
				}
			}
			gemm4xN(nc, &dx, &dy, s.vt[j0:], n16, dim)
		}
		for kk := range 4 {
			i := i0 + kk
			if i >= n {
				break
			}
			p := s.p[i*n16 : i*n16+i+1]
			expSub(p, lse[i])
			di := dot(dout.row(i, dim), out.row(i, dim))
			ds := s.ds[i*n16 : i*n16+i+1]
			for j, pj := range p {
				ds[j] = pj * (ds[j] - di) * scale
			}
			clear(s.ds[i*n16+i+1 : (i+1)*n16])
		}
	}
	// dq_i += Σ_j ds_ij·k_j
	for i0 := 0; i0 < n; i0 += 4 {
		cols := min(i0+4, n)
		rowPtrs(&dy, headView[float32]{s.ds, n16, 0}, i0, n, 0, s.zeros)
		for c0, nc := 0, 0; c0 < dim; c0 += nc {
			nc = width32(c0, dim)
			rowPtrs(&dx, dq, i0, n, c0, s.waste)
			gemm4xN(nc, &dx, &dy, k.data[k.off+c0:], k.stride, cols)
		}
	}
	// dk_j += Σ_i ds_ij·q_i, dv_j += Σ_i p_ij·dout_i: the transposes'
	// rows j from column j on (row i < j of column j is zero)
	for i := range n {
		for j := range i + 1 {
			s.pt[j*n16+i] = s.p[i*n16+j]
			s.dst[j*n16+i] = s.ds[i*n16+j]
		}
	}
	for j0 := 0; j0 < n; j0 += 4 {
		for kk := range 4 {
			j := j0 + kk
			if j < n {
				clear(s.pt[j*n16+j0 : j*n16+j])
				clear(s.dst[j*n16+j0 : j*n16+j])
			}
		}
		for _, t := range []struct {
			m       []float32
			dx, src headView[float32]
		}{{s.dst, dk, q}, {s.pt, dv, dout}} {
			for kk := range 4 {
				if j0+kk < n {
					dy[kk] = &t.m[(j0+kk)*n16+j0]
				} else {
					dy[kk] = &s.zeros[0]
				}
			}
			for c0, nc := 0, 0; c0 < dim; c0 += nc {
				nc = width32(c0, dim)
				rowPtrs(&dx, t.dx, j0, n, c0, s.waste)
				gemm4xN(nc, &dx, &dy, t.src.data[j0*t.src.stride+t.src.off+c0:], t.src.stride, n-j0)
			}
		}
	}
}
