package ggml

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// checkMatVec validates a matrix-vector product's shapes and returns the
// row kernel and the byte size of one row.
func checkMatVec(ks *Kernels, t Type, w []byte, rows, cols int, a *Activation) (rowDot, int, error) {
	if a.err != nil {
		return nil, 0, a.err
	}
	kern := ks.kernelsFor(t).dot
	if kern == nil {
		return nil, 0, fmt.Errorf("%w: no matrix-vector kernel for %s", ErrUnsupported, t)
	}
	if vt, _ := VecDotType(t); a.typ != vt || a.n == 0 && cols != 0 {
		return nil, 0, fmt.Errorf("%w: %s weights need a %s activation, got %s", ErrSize, t, vt, a.typ)
	}
	if a.n != cols {
		return nil, 0, fmt.Errorf("%w: activation has %d elements, matrix has %d columns", ErrSize, a.n, cols)
	}
	if rows < 0 {
		return nil, 0, fmt.Errorf("%w: %d rows", ErrSize, rows)
	}
	rs, err := t.RowSize(int64(cols))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrSize, err)
	}
	if int64(len(w)) != rs*int64(rows) {
		return nil, 0, fmt.Errorf("%w: %s %dx%d needs %d bytes, got %d", ErrSize, t, rows, cols, rs*int64(rows), len(w))
	}
	return kern, int(rs), nil
}

// MatVec computes y[r] = dot(row r of W, x) for the rows×cols matrix W of
// type t stored in w, converting x to t's vec_dot type first as ggml's CPU
// backend does. It allocates the converted activation; the forward pass
// should use an Activation and MatVecPrepared or a Pool instead.
func MatVec(t Type, w []byte, rows, cols int, x []float32, y []float32) error {
	var a Activation
	a.Prepare(x, t)
	return MatVecPrepared(t, w, rows, cols, &a, y)
}

// MatVecPrepared is MatVec with an activation prepared for t, on the
// calling goroutine, with BestKernels' row kernel.
func MatVecPrepared(t Type, w []byte, rows, cols int, a *Activation, y []float32) error {
	return matVecPrepared(BestKernels(), t, w, rows, cols, a, y)
}

// matVecPrepared is MatVecPrepared with the row kernels of ks.
func matVecPrepared(ks *Kernels, t Type, w []byte, rows, cols int, a *Activation, y []float32) error {
	kern, rs, err := checkMatVec(ks, t, w, rows, cols, a)
	if err != nil {
		return err
	}
	if len(y) != rows {
		return fmt.Errorf("%w: output has %d elements for %d rows", ErrSize, len(y), rows)
	}
	for r := 0; r < rows; r++ {
		y[r] = kern(w[r*rs:(r+1)*rs], a)
	}
	return nil
}

// Pool is a fixed set of worker goroutines that split the rows of
// matrix-vector and matrix-matrix products between them, running the
// kernels of one Kernels set. Create one per engine, use it from one
// goroutine at a time (calls are serialised), and Close it when done.
type Pool struct {
	ks      *Kernels
	threads int
	job     poolJob
	oneX    [1]*Activation
	oneY    [1][]float32
	mu      sync.Mutex
	closed  bool

	// the hand-off to the workers (handoff.go)
	workers []*poolWorker
	gen     atomic.Uint64 // bumped once per job, and at Close
	left    atomic.Int32  // workers still running the current job
	stopped atomic.Bool
}

// matKernel multiplies rows [r0, r1) of the weight matrix w (rs bytes per
// row) by every activation of xs, writing ys[i][r], with the paths of the
// set ks. The fast paths are a type's tiled kernels (tiles of rows ×
// activations that reuse each loaded weight) and packed kernels; the
// results must equal the type's rowDot bit for bit, which the
// differential tests check.
type matKernel func(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32)

// poolJob is one product, or one Parallel loop; the pool reuses a single
// job value. Workers claim chunks of rows (or loop indices) from next until
// none are left.
type poolJob struct {
	fn    func(i int) // Parallel's body; nil for a product
	ks    *Kernels
	mat   matKernel
	kern  rowDot
	rs    int
	w     []byte
	xs    []*Activation
	ys    [][]float32
	rows  int
	chunk int
	next  atomic.Int64
}

func (j *poolJob) run() {
	for {
		r0 := int(j.next.Add(1)-1) * j.chunk
		if r0 >= j.rows {
			return
		}
		r1 := min(r0+j.chunk, j.rows)
		if j.fn != nil {
			for i := r0; i < r1; i++ {
				j.fn(i)
			}
			continue
		}
		if j.mat != nil {
			j.mat(j.ks, j.w, j.rs, r0, r1, j.xs, j.ys)
			continue
		}
		rowLoop(j.kern, j.w, j.rs, r0, r1, j.xs, j.ys)
	}
}

// rowLoop computes rows [r0, r1) of the product with the row kernel kern,
// one row and activation at a time: ys[i][r] = kern(row r, xs[i]).
func rowLoop(kern rowDot, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	for r := r0; r < r1; r++ {
		row := w[r*rs : (r+1)*rs]
		for i, a := range xs {
			ys[i][r] = kern(row, a)
		}
	}
}

// NewPool starts a pool of threads workers (the calling goroutine counts
// as one of them) running BestKernels; threads <= 0 means
// runtime.NumCPU().
func NewPool(threads int) *Pool { return NewPoolWith(threads, BestKernels()) }

// NewPoolWith is NewPool running the kernel set ks (BestKernels when nil).
func NewPoolWith(threads int, ks *Kernels) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if ks == nil {
		ks = BestKernels()
	}
	p := &Pool{ks: ks, threads: threads}
	p.startWorkers()
	return p
}

// Kernels is the set of kernels the pool runs.
func (p *Pool) Kernels() *Kernels { return p.ks }

// Threads is the number of goroutines a product is split across.
func (p *Pool) Threads() int { return p.threads }

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.stopWorkers()
	}
}

// ErrClosed is returned by a Pool that has been closed.
var ErrClosed = fmt.Errorf("ggml: pool closed")

// MatVec is MatVecPrepared split across the pool's workers.
func (p *Pool) MatVec(t Type, w []byte, rows, cols int, a *Activation, y []float32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.oneX[0], p.oneY[0] = a, y
	err := p.run(t, w, rows, cols, p.oneX[:], p.oneY[:])
	p.oneX[0], p.oneY[0] = nil, nil
	return err
}

// MatMul computes ys[i] = W·xs[i] for a batch of activations (prompt
// processing), loading each weight row once for the whole batch. Every
// xs[i] must be prepared for t; the results equal MatVec's one by one.
func (p *Pool) MatMul(t Type, w []byte, rows, cols int, xs []*Activation, ys [][]float32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(xs) != len(ys) {
		return fmt.Errorf("%w: %d activations, %d outputs", ErrSize, len(xs), len(ys))
	}
	return p.run(t, w, rows, cols, xs, ys)
}

func (p *Pool) run(t Type, w []byte, rows, cols int, xs []*Activation, ys [][]float32) error {
	return p.runWith(t, w, rows, cols, xs, ys, p.ks.kernelsFor(t).mat)
}

// runWith is run with the matrix kernel mat (nil: the row kernel), which
// MatMulPacked sets to the packed layout's kernel.
func (p *Pool) runWith(t Type, w []byte, rows, cols int, xs []*Activation, ys [][]float32, mat matKernel) error {
	if p.closed {
		return ErrClosed
	}
	var kern rowDot
	var rs int
	for i, a := range xs {
		if a == nil {
			return fmt.Errorf("%w: activation %d is nil", ErrSize, i)
		}
		k, s, err := checkMatVec(p.ks, t, w, rows, cols, a)
		if err != nil {
			return err
		}
		if len(ys[i]) != rows {
			return fmt.Errorf("%w: output %d has %d elements for %d rows", ErrSize, i, len(ys[i]), rows)
		}
		kern, rs = k, s
	}
	if len(xs) == 0 || rows == 0 {
		return nil
	}
	j := &p.job
	j.ks, j.kern, j.mat, j.rs, j.w, j.xs, j.ys, j.rows = p.ks, kern, mat, rs, w, xs, ys, rows
	// Chunks: a few per worker so that uneven progress evens out, but at
	// least 16 rows each (a multiple of 16, so that tiles of 4, 8 or 16
	// rows never straddle two chunks).
	// A large batch makes each chunk costly to start (a matrix kernel
	// repacks the activations for it), so it gets fewer, larger chunks.
	perWorker := 4
	if len(xs) >= 16 {
		perWorker = 2
	}
	j.chunk = (max((rows+perWorker*p.threads-1)/(perWorker*p.threads), 16) + 15) &^ 15
	p.dispatch(j)
	j.w, j.xs, j.ys, j.mat = nil, nil, nil, nil
	return nil
}

// Parallel calls fn(i) for every i in [0, n) on the pool's workers (the
// calling goroutine among them) and returns when all calls have returned.
// chunk is how many consecutive indices a worker claims at a time (at
// least 1). fn must be safe to call concurrently for distinct i. It does
// not allocate when fn is a function value made once and reused.
func (p *Pool) Parallel(n, chunk int, fn func(i int)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if n <= 0 {
		return nil
	}
	j := &p.job
	j.fn, j.rows, j.chunk = fn, n, max(chunk, 1)
	p.dispatch(j)
	j.fn = nil
	return nil
}
