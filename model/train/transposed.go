package train

import (
	"math"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/ggml"
)

// The transposed products of the quantized types run on ggml's Q8_0
// kernels (int8 dot products): Wᵀ is written in Q8_0, 32 rows of W (one
// tile, decoded) giving one block of every row of Wᵀ, and the gradients
// dY are quantized to Q8_0 as activations are. Both roundings are those
// of 8-bit quantization (about 0.4% of a block's largest value), which a
// quantized base has already made in its weights; F32, F16 and BF16 bases
// keep the exact float32 path. A block matrix's Wᵀ lives only for its
// product (a few MiB); the output matrix's is kept for the whole run (an
// eighth more than its share of the file), as it is used for every
// answer token.

// q8Block is the size of a Q8_0 block: an F16 scale and 32 int8 values.
const q8Block = 34

// useQ8Back says the transposed product of w runs through Q8_0.
func useQ8Back(w *arch.Matrix) bool {
	return !floatType(w.Type) && w.Rows%32 == 0 && w.Cols > 0
}

// transposeQ8 writes wᵀ (w.Cols rows of w.Rows values) in Q8_0 into dst
// (w.Cols·w.Rows/32 blocks), decoding w 32 rows at a time on the workers.
func (m *Model) transposeQ8(w *arch.Matrix, dst []byte) error {
	tiles := w.Rows / 32
	rowBytes := w.Rows / 32 * q8Block
	errs := make([]error, m.threads)
	m.workerTiles()
	err := m.pool.Parallel(m.threads, 1, func(p int) {
		tile := m.tile(p, 0, 32*w.Cols)
		for b := p; b < tiles; b += m.threads {
			if err := decodeRows(w, 32*b, 32*b+32, tile); err != nil {
				errs[p] = err
				return
			}
			quantizeColumnsQ8(tile, w.Cols, dst[b*q8Block:], rowBytes)
		}
	})
	if err != nil {
		return err
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// quantizeColumnsQ8 writes each column c of tile (32 rows, cols wide,
// row-major) as one Q8_0 block at dst[c*stride:], rounded as ggml's
// quantize_row_q8_0_ref rounds: the scale d = max|v|/127 (stored in
// F16), the values round(v/d) to the nearest even. Sixteen columns at a
// time, so that the rows are read in order.
func quantizeColumnsQ8(tile []float32, cols int, dst []byte, stride int) {
	var amax [16]uint32
	var id [16]float32
	for c0 := 0; c0 < cols; c0 += 16 {
		if quantCols16(tile, cols, c0, dst, stride) {
			continue
		}
		nc := min(16, cols-c0)
		clear(amax[:])
		for r := range 32 {
			row := tile[r*cols+c0 : r*cols+c0+nc]
			for i, v := range row { // |v|'s bits order as |v| does
				amax[i] = max(amax[i], math.Float32bits(v)&^(1<<31))
			}
		}
		for i := range nc {
			d := math.Float32frombits(amax[i]) / 127
			id[i] = 0
			if d != 0 {
				id[i] = 1 / d
			}
			h := ggml.FP32ToFP16(d)
			blk := dst[(c0+i)*stride:]
			blk[0], blk[1] = byte(h), byte(h>>8)
		}
		for i := range nc {
			blk, idi := dst[(c0+i)*stride+2:(c0+i)*stride+q8Block], id[i]
			col := tile[c0+i:]
			for r := range blk {
				blk[r] = byte(roundEven(col[r*cols] * idi))
			}
		}
	}
}

// roundEven rounds v (|v| < 2²²) to the nearest integer, ties to even,
// as math.RoundToEven does: adding 1.5·2²³ leaves the integer in the low
// bits of the float32's mantissa.
func roundEven(v float32) int32 {
	const magic = 12582912 // 1.5·2²³
	return int32(math.Float32bits(v+magic)) - 0x4b400000
}

// matmulBackQ8 adds dy (n×rows)·w to dx (n×cols) with wᵀ in Q8_0: the
// output matrix's is kept (m.outT), any other's made for the call.
func (m *Model) matmulBackQ8(w *arch.Matrix, dy []float32, n int, dx []float32) error {
	size := w.Cols * w.Rows / 32 * q8Block
	var wt []byte
	if m.W != nil && w == &m.W.Output {
		if m.outT == nil {
			wt, release := offHeapBytes(size)
			if err := m.transposeQ8(w, wt); err != nil {
				release()
				return err
			}
			m.outT, m.release = wt, append(m.release, release)
		}
		wt = m.outT
	} else {
		if cap(m.wtBuf) < size {
			m.wtBuf = make([]byte, size)
		}
		wt = m.wtBuf[:size]
		if err := m.transposeQ8(w, wt); err != nil {
			return err
		}
	}
	for len(m.acts) < n {
		m.acts = append(m.acts, &ggml.Activation{Rounding: ggml.RoundRef})
	}
	if cap(m.backOut) < n*w.Cols {
		m.backOut = make([]float32, n*w.Cols)
	}
	acts, ys, out := m.acts[:n], make([][]float32, n), m.backOut[:n*w.Cols]
	if err := m.split(n, func(t0, t1 int) error {
		for t := t0; t < t1; t++ {
			acts[t].Prepare(dy[t*w.Rows:(t+1)*w.Rows], ggml.Q8_0)
			if err := acts[t].Err(); err != nil {
				return err
			}
			ys[t] = out[t*w.Cols : (t+1)*w.Cols]
		}
		return nil
	}); err != nil {
		return err
	}
	if err := m.pool.MatMul(ggml.Q8_0, wt, w.Cols, w.Rows, acts, ys); err != nil {
		return err
	}
	return m.perRow(n, func(t int) { addTo(dx[t*w.Cols:(t+1)*w.Cols], out[t*w.Cols:(t+1)*w.Cols]) })
}
