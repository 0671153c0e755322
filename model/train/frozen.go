package train

import (
	"fmt"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/ggml"
)

// The frozen base matrices in their file type. The forward product runs
// through model/ggml's kernels for the quantized types (the activations
// converted to the type's dot-product type, as the engine does, so the
// results are the engine's), and through tiles of rows decoded to float32
// and SIMD dot products for F32, F16 and BF16 (whose ggml kernels are
// scalar). The backward product (the gradient with respect to the input,
// dX = dY·W) decodes the matrix tile by tile as well: each worker decodes
// a few rows at a time into a small buffer and adds their multiples to
// its tokens' input gradients, so no dequantized copy of a matrix, let
// alone of the model, is ever made.

// tileElems bounds a decoded tile: about 256 KiB of float32, which stays
// in the L2 cache while every token of a worker passes over it.
const tileElems = 64 << 10

// tileRows is how many rows of a cols-wide matrix one tile holds.
func tileRows(cols int) int { return max(4, tileElems/cols) }

// floatType says t is a float type, multiplied here rather than by ggml.
func floatType(t ggml.Type) bool { return t == ggml.F32 || t == ggml.F16 || t == ggml.BF16 }

// decodeRows decodes rows [r0, r1) of w into dst (row-major, cols wide).
func decodeRows(w *arch.Matrix, r0, r1 int, dst []float32) error {
	rs, err := w.Type.RowSize(int64(w.Cols))
	if err != nil {
		return err
	}
	b := int(rs)
	if w.Type == ggml.F16 && decodeF16(w.Data[r0*b:r1*b], dst[:(r1-r0)*w.Cols]) ||
		w.Type == ggml.Q8_0 && decodeQ8(w.Data[r0*b:r1*b], dst[:(r1-r0)*w.Cols]) {
		return nil
	}
	if err := ggml.Dequantize(w.Type, w.Data[r0*b:r1*b], dst[:(r1-r0)*w.Cols]); err != nil {
		return fmt.Errorf("decode %s rows %d..%d: %w", w.Type, r0, r1, err)
	}
	return nil
}

// split runs fn(t0, t1) for the n tokens split in one range per worker,
// and returns the first error.
func (m *Model) split(n int, fn func(t0, t1 int) error) error {
	return m.splitW(n, func(_, t0, t1 int) error { return fn(t0, t1) })
}

// perRow runs fn(t) for every row t < n, the rows split among the
// workers (for row-wise operations: their results do not depend on the
// split).
func (m *Model) perRow(n int, fn func(t int)) error {
	return m.split(n, func(t0, t1 int) error {
		for t := t0; t < t1; t++ {
			fn(t)
		}
		return nil
	})
}

// swiglu is swiglu over n rows of a, g and u, on the workers.
func (m *Model) swiglu(a, g, u []float32, n int) error {
	w := len(g) / max(n, 1)
	return m.perRow(n, func(t int) { swiglu(a[t*w:(t+1)*w], g[t*w:(t+1)*w], u[t*w:(t+1)*w]) })
}

// splitW is split telling fn which worker p (0 ≤ p < threads) runs it.
func (m *Model) splitW(n int, fn func(p, t0, t1 int) error) error {
	parts := min(m.threads, n)
	if parts <= 1 {
		return fn(0, 0, n)
	}
	errs := make([]error, parts)
	per := (n + parts - 1) / parts
	if err := m.pool.Parallel(parts, 1, func(p int) {
		t0, t1 := p*per, min((p+1)*per, n)
		if t0 < t1 {
			errs[p] = fn(p, t0, t1)
		}
	}); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// matmul computes y (n×rows) = x (n×cols)·wᵀ.
func (m *Model) matmul(w *arch.Matrix, x []float32, n int, y []float32) error {
	if w.Packed {
		return fmt.Errorf("train: %s matrix is in a packed layout", w.Type)
	}
	m.workerTiles()
	if floatType(w.Type) && haveGemm() {
		tr := matmulTileRows(w.Cols)
		return m.splitW((w.Rows+tr-1)/tr, func(p, b0, b1 int) error {
			return m.matmulTiles(p, w, x, y, n, b0*tr, min(b1*tr, w.Rows))
		})
	}
	if floatType(w.Type) {
		return m.splitW(n, func(p, t0, t1 int) error {
			tr := tileRows(w.Cols)
			tile := m.tile(p, 0, tr*w.Cols)
			for r0 := 0; r0 < w.Rows; r0 += tr {
				r1 := min(r0+tr, w.Rows)
				if err := decodeRows(w, r0, r1, tile); err != nil {
					return err
				}
				for t := t0; t < t1; t++ {
					xt, yt := x[t*w.Cols:(t+1)*w.Cols], y[t*w.Rows:(t+1)*w.Rows]
					for r := r0; r < r1; r++ {
						yt[r] = dot(tile[(r-r0)*w.Cols:(r-r0+1)*w.Cols], xt)
					}
				}
			}
			return nil
		})
	}
	for len(m.acts) < n {
		m.acts = append(m.acts, &ggml.Activation{Rounding: ggml.RoundRef})
	}
	acts, ys := m.acts[:n], make([][]float32, n)
	if err := m.split(n, func(t0, t1 int) error {
		for t := t0; t < t1; t++ {
			acts[t].Prepare(x[t*w.Cols:(t+1)*w.Cols], w.Type)
			if err := acts[t].Err(); err != nil {
				return err
			}
			ys[t] = y[t*w.Rows : (t+1)*w.Rows]
		}
		return nil
	}); err != nil {
		return err
	}
	return m.pool.MatMul(w.Type, w.Data, w.Rows, w.Cols, acts, ys)
}

// matmulBack adds dy (n×rows)·w to dx (n×cols): the gradient of matmul
// with respect to its input.
func (m *Model) matmulBack(w *arch.Matrix, dy []float32, n int, dx []float32) error {
	if w.Packed {
		return fmt.Errorf("train: %s matrix is in a packed layout", w.Type)
	}
	m.workerTiles()
	if useQ8Back(w) && m.q8Back {
		return m.matmulBackQ8(w, dy, n, dx)
	}
	if floatType(w.Type) && haveGemm() && w.Cols%16 == 0 {
		// the workers split the columns, so each decodes only its own
		return m.splitW(w.Cols/16, func(p, u0, u1 int) error {
			return m.matmulBackCols(p, w, dy, n, dx, 16*u0, 16*u1)
		})
	}
	return m.splitW(n, func(p, t0, t1 int) error {
		tr := tileRows(w.Cols)
		tile := m.tile(p, 0, tr*w.Cols)
		for r0 := 0; r0 < w.Rows; r0 += tr {
			r1 := min(r0+tr, w.Rows)
			if err := decodeRows(w, r0, r1, tile); err != nil {
				return err
			}
			t := t0
			if haveGemm() && w.Cols%16 == 0 {
				// four tokens at a time, sixteen columns in registers
				var dxp, dyp [4]*float32
				for ; t+4 <= t1; t += 4 {
					for i := range 4 {
						dyp[i] = &dy[(t+i)*w.Rows+r0]
					}
					for c, nc := 0, 0; c < w.Cols; c += nc {
						nc = width32(c, w.Cols)
						for i := range 4 {
							dxp[i] = &dx[(t+i)*w.Cols+c]
						}
						gemm4xN(nc, &dxp, &dyp, tile[c:], w.Cols, r1-r0)
					}
				}
			}
			for ; t < t1; t++ {
				dyt, dxt := dy[t*w.Rows:(t+1)*w.Rows], dx[t*w.Cols:(t+1)*w.Cols]
				for r := r0; r < r1; r++ {
					if g := dyt[r]; g != 0 {
						axpy(dxt, g, tile[(r-r0)*w.Cols:(r-r0+1)*w.Cols])
					}
				}
			}
		}
		return nil
	})
}

// matmulBackCols is matmulBack for columns [c0, c1) (multiples of 16) of
// a float matrix: tiles of at least 64 rows (the kernel's sums run over a
// tile's rows, so short ones cost it more in loads and stores than in
// arithmetic), decoded in that column range only, four tokens at a time
// on the register-blocked kernel, the rest by axpys.
func (m *Model) matmulBackCols(p int, w *arch.Matrix, dy []float32, n int, dx []float32, c0, c1 int) error {
	width := c1 - c0
	tr := max(64, tileElems/width) // rows per tile: the kernel sums over them
	tile := m.tile(p, 0, tr*width)
	var dxp, dyp [4]*float32
	for r0 := 0; r0 < w.Rows; r0 += tr {
		r1 := min(r0+tr, w.Rows)
		if err := decodeCols(w, r0, r1, c0, c1, tile); err != nil {
			return err
		}
		t := 0
		for ; t+4 <= n; t += 4 {
			for i := range 4 {
				dyp[i] = &dy[(t+i)*w.Rows+r0]
			}
			for c, nc := 0, 0; c < width; c += nc {
				nc = width32(c, width)
				for i := range 4 {
					dxp[i] = &dx[(t+i)*w.Cols+c0+c]
				}
				gemm4xN(nc, &dxp, &dyp, tile[c:], width, r1-r0)
			}
		}
		for ; t < n; t++ {
			dyt, dxt := dy[t*w.Rows:(t+1)*w.Rows], dx[t*w.Cols+c0:t*w.Cols+c1]
			for r := r0; r < r1; r++ {
				if g := dyt[r]; g != 0 {
					axpy(dxt, g, tile[(r-r0)*width:(r-r0+1)*width])
				}
			}
		}
	}
	return nil
}

// decodeCols decodes columns [c0, c1) of rows [r0, r1) of the float
// matrix w into dst (row-major, c1−c0 wide).
func decodeCols(w *arch.Matrix, r0, r1, c0, c1 int, dst []float32) error {
	size := w.Type.TypeSize() // one value per block
	rs, width := w.Cols*size, c1-c0
	for r := r0; r < r1; r++ {
		src, out := w.Data[r*rs+c0*size:r*rs+c1*size], dst[(r-r0)*width:(r-r0+1)*width]
		if w.Type == ggml.F16 && decodeF16(src, out) {
			continue
		}
		if err := ggml.Dequantize(w.Type, src, out); err != nil {
			return fmt.Errorf("decode %s row %d: %w", w.Type, r, err)
		}
	}
	return nil
}

// workerTiles makes room for each worker's tiles; it runs before the
// workers do.
func (m *Model) workerTiles() {
	if len(m.tiles) < 2*m.threads {
		m.tiles = make([][]float32, 2*m.threads)
	}
}

// tile returns worker p's buffer i (0 or 1) of n floats, reused
// (workerTiles made room for them).
func (m *Model) tile(p, i, n int) []float32 {
	k := 2*p + i
	if cap(m.tiles[k]) < n {
		m.tiles[k] = make([]float32, n)
	}
	return m.tiles[k][:n]
}

// transposeTileGo writes the first rows rows of tile (cols wide) into
// dst as cols rows of rows values.
func transposeTileGo(dst, tile []float32, rows, cols int) {
	for r := range rows {
		for c := range cols {
			dst[c*rows+r] = tile[r*cols+c]
		}
	}
}

// matmulTileRows is how many rows of a cols-wide matrix matmulTiles
// decodes at a time: a multiple of 32 (gemm4x32's outputs), at least 32.
func matmulTileRows(cols int) int { return max(32, tileElems/cols/32*32) }

// matmulTiles computes rows [ra, rb) of matmul for all n tokens with the
// register-blocked kernel: tiles of 16·k rows are decoded and transposed
// (cols × rows), and each group of four tokens multiplies them 32 or 16
// outputs at a time. ra is a multiple of matmulTileRows (the workers
// split the tiles, so each decodes its own).
func (m *Model) matmulTiles(p int, w *arch.Matrix, x, y []float32, n, ra, rb int) error {
	tr := matmulTileRows(w.Cols)
	tile, tt := m.tile(p, 0, tr*w.Cols), m.tile(p, 1, tr*w.Cols)
	var yp, xp [4]*float32
	t0, t1 := 0, n
	for r0 := ra; r0 < rb; r0 += tr {
		r1 := min(r0+tr, rb)
		nr := r1 - r0
		if err := decodeRows(w, r0, r1, tile); err != nil {
			return err
		}
		full := nr / 16 * 16 // rows done by the kernel; the rest by dots
		transposeTile(tt, tile, full, w.Cols)
		t := t0
		for ; t+4 <= t1 && full > 0; t += 4 {
			for i := range 4 {
				xp[i] = &x[(t+i)*w.Cols]
				clear(y[(t+i)*w.Rows+r0 : (t+i)*w.Rows+r0+full])
			}
			for k, nk := 0, 0; k < full; k += nk {
				nk = width32(k, full)
				for i := range 4 {
					yp[i] = &y[(t+i)*w.Rows+r0+k]
				}
				gemm4xN(nk, &yp, &xp, tt[k:], full, w.Cols)
			}
		}
		for tt0 := t0; tt0 < t1; tt0++ {
			xt, yt := x[tt0*w.Cols:(tt0+1)*w.Cols], y[tt0*w.Rows:(tt0+1)*w.Rows]
			from := r0 + full
			if tt0 >= t {
				from = r0 // tokens the kernel did not take
			}
			for r := from; r < r1; r++ {
				yt[r] = dot(tile[(r-r0)*w.Cols:(r-r0+1)*w.Cols], xt)
			}
		}
	}
	return nil
}
