package ggml

import "fmt"

// Packed weight layouts. A packing rewrites a weight matrix once, at load
// time, so that a kernel reads it faster: groups of consecutive rows are
// interleaved block by block (the lanes of one vector then hold different
// rows, and no horizontal sums are needed), the way llama.cpp's CPU backend
// repacks Q4_0 and Q4_K. A packed matrix has the size of the original, and
// group g occupies the bytes the group's rows had, so a range of whole
// groups is still a contiguous byte range. Results stay bit for bit those
// of the type's row kernel (the differential tests check it).

// packing describes one type's packed layout and its kernel; a type's
// record (typeInfo.pack) holds it, and a Kernels set with packed layouts
// uses it where the CPU runs its kernel.
type packing struct {
	// vbmi: the kernel needs AVX-512 VBMI besides VNNI.
	vbmi bool
	// group is how many consecutive rows are interleaved; it divides 16
	// (the pool's chunks are multiples of 16 rows).
	group int
	// pack rewrites one group: src holds group rows in file layout, rs
	// bytes each, nb blocks per row; dst (the same size) receives the
	// packed group.
	pack func(dst, src []byte, rs, nb int)
	// row copies row i (0 <= i < group) of the packed group src back into
	// file layout in dst (rs bytes).
	row func(dst, src []byte, rs, nb, i int)
	// mat multiplies rows [r0, r1) (multiples of group) of the packed
	// matrix w, whose rows are rs bytes in file layout, by every
	// activation of xs, writing ys[i][r].
	mat matKernel
}

// PackLayoutVersion is the version of the packed layouts as bytes: a copy
// of packed weights kept on disk (the model's pack cache) under another
// version is refused. Bump it whenever any packed layout changes.
const PackLayoutVersion = 1

// Packable reports whether a rows×cols matrix of type t can be packed for
// BestKernels (a packed kernel exists and rows is a multiple of its group).
func Packable(t Type, rows, cols int) bool { return BestKernels().Packable(t, rows, cols) }

// Packable reports whether a rows×cols matrix of type t has a packed
// layout in the set k.
func (k *Kernels) Packable(t Type, rows, cols int) bool {
	p := k.kernelsFor(t).pack
	return p != nil && rows > 0 && rows%p.group == 0 && t.BlockSize() > 0 && cols > 0 && cols%t.BlockSize() == 0
}

// packShape checks a packed matrix's arguments and returns its packing,
// row size and blocks per row.
func packShape(ks *Kernels, t Type, rows, cols, size int) (*packing, int, int, error) {
	if !ks.Packable(t, rows, cols) {
		return nil, 0, 0, fmt.Errorf("%w: no packed layout for a %dx%d %s matrix", ErrUnsupported, rows, cols, t)
	}
	rs, err := t.RowSize(int64(cols))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %v", ErrSize, err)
	}
	if int64(size) != rs*int64(rows) {
		return nil, 0, 0, fmt.Errorf("%w: %s %dx%d needs %d bytes, got %d", ErrSize, t, rows, cols, rs*int64(rows), size)
	}
	return ks.kernelsFor(t).pack, int(rs), cols / t.BlockSize(), nil
}

// Pack writes the rows×cols matrix src (type t, file layout) into dst in
// t's packed layout. dst and src have the same length and must not
// overlap. The layout is BestKernels'. See also Pool.Pack, which splits
// the work across the workers.
func Pack(t Type, dst, src []byte, rows, cols int) error {
	p, rs, nb, err := packShape(BestKernels(), t, rows, cols, len(src))
	if err != nil {
		return err
	}
	if len(dst) != len(src) {
		return fmt.Errorf("%w: packing %d bytes into %d", ErrSize, len(src), len(dst))
	}
	gb := p.group * rs
	for g := 0; g < rows/p.group; g++ {
		p.pack(dst[g*gb:(g+1)*gb], src[g*gb:(g+1)*gb], rs, nb)
	}
	return nil
}

// PackedRow copies row r of the packed rows×cols matrix w (type t) into
// dst in file layout (t.RowSize(cols) bytes), e.g. to dequantize one
// embedding row of a tied output matrix.
func PackedRow(t Type, dst, w []byte, rows, cols, r int) error {
	p, rs, nb, err := packShape(BestKernels(), t, rows, cols, len(w))
	if err != nil {
		return err
	}
	if r < 0 || r >= rows {
		return fmt.Errorf("%w: row %d of %d", ErrSize, r, rows)
	}
	if len(dst) != rs {
		return fmt.Errorf("%w: row needs %d bytes, got %d", ErrSize, rs, len(dst))
	}
	gb := p.group * rs
	g := r / p.group
	p.row(dst, w[g*gb:(g+1)*gb], rs, nb, r%p.group)
	return nil
}

// Pack is the package-level Pack, in the layout of the pool's set, split
// across the pool's workers, one group of rows at a time.
func (p *Pool) Pack(t Type, dst, src []byte, rows, cols int) error {
	pk, rs, nb, err := packShape(p.ks, t, rows, cols, len(src))
	if err != nil {
		return err
	}
	if len(dst) != len(src) {
		return fmt.Errorf("%w: packing %d bytes into %d", ErrSize, len(src), len(dst))
	}
	gb := pk.group * rs
	return p.Parallel(rows/pk.group, 64, func(g int) {
		pk.pack(dst[g*gb:(g+1)*gb], src[g*gb:(g+1)*gb], rs, nb)
	})
}

// MatMulPacked is MatMul for a matrix that Pack (or Pool.Pack) has
// rewritten: ys[i] = W·xs[i], every xs[i] prepared for t. The results
// equal MatMul's on the original matrix bit for bit.
func (p *Pool) MatMulPacked(t Type, w []byte, rows, cols int, xs []*Activation, ys [][]float32) error {
	pk, _, _, err := packShape(p.ks, t, rows, cols, len(w))
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(xs) != len(ys) {
		return fmt.Errorf("%w: %d activations, %d outputs", ErrSize, len(xs), len(ys))
	}
	return p.runWith(t, w, rows, cols, xs, ys, pk.mat)
}
