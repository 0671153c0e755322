package arch

import (
	"fmt"
	"math"
	"sync"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/kvcache"
)

// Kernels multiplies weight matrices by activations and reads embedding
// rows the way ggml's CPU backend does. model/ggml's pool satisfies it
// through a small adapter in package model.
type Kernels interface {
	// MatMul computes ys[j][i] = ws[j]·xs[i] for every matrix ws[j],
	// converting each xs[i] to the matrix type's dot-product type first
	// (once for all the matrices that share that type).
	MatMul(ws []*Matrix, xs [][]float32, ys [][][]float32) error
	// Dequantize expands src, a whole number of blocks of type t, into dst.
	Dequantize(t ggml.Type, src []byte, dst []float32) error
	// Parallel calls fn(i) for every i in [0, n) on the kernels' worker
	// goroutines, chunk consecutive indices at a time, and returns when
	// all have returned.
	Parallel(n, chunk int, fn func(i int)) error
}

// Matrix is a rows×cols weight matrix in its file type (ggml's ne[0] is
// cols).
type Matrix struct {
	Type       ggml.Type
	Data       []byte
	Rows, Cols int
}

// rowBytes is the size of one row.
func (m *Matrix) rowBytes() int {
	n, _ := m.Type.RowSize(int64(m.Cols))
	return int(n)
}

// Layer holds one transformer block's weights.
type Layer struct {
	AttnNorm                []float32
	Q, K, V, Out            Matrix
	QBias, KBias, VBias     []float32 // nil when absent
	QNorm, KNorm            []float32 // qwen3 only
	FFNNorm                 []float32
	FFNGate, FFNUp, FFNDown Matrix
}

// Weights holds a model's tensors.
type Weights struct {
	Embedding  Matrix // vocab × hidden
	OutputNorm []float32
	Output     Matrix // vocab × hidden; the embedding when tied
	RopeFreqs  []float32
	Layers     []Layer
}

// Model runs the forward pass. It is safe for concurrent use only with
// distinct caches and when k is.
type Model struct {
	Config  Config
	W       Weights
	k       Kernels
	threads int
}

// New checks the weights' shapes against cfg and returns the model.
// threads bounds the goroutines used for attention heads.
func New(cfg Config, w Weights, k Kernels, threads int) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ValueDim != cfg.HeadDim {
		return nil, fmt.Errorf("%w: value head size %d differs from key head size %d", ErrUnsupported, cfg.ValueDim, cfg.HeadDim)
	}
	if len(w.Layers) != cfg.Layers {
		return nil, fmt.Errorf("%w: %d layers of weights, metadata says %d", ErrBadModel, len(w.Layers), cfg.Layers)
	}
	qDim, kvDim := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	check := func(name string, m *Matrix, rows, cols int) error {
		if m.Rows != rows || m.Cols != cols {
			return fmt.Errorf("%w: %s is %d×%d, want %d×%d", ErrBadModel, name, m.Rows, m.Cols, rows, cols)
		}
		if err := CheckType(name, m.Type); err != nil {
			return err
		}
		if n := m.rowBytes() * rows; len(m.Data) != n || n == 0 {
			return fmt.Errorf("%w: %s has %d bytes, want %d", ErrBadModel, name, len(m.Data), n)
		}
		return nil
	}
	vec := func(name string, v []float32, n int, optional bool) error {
		if v == nil && optional {
			return nil
		}
		if len(v) != n {
			return fmt.Errorf("%w: %s has %d elements, want %d", ErrBadModel, name, len(v), n)
		}
		return nil
	}
	if err := check("token_embd", &w.Embedding, cfg.Vocab, cfg.Hidden); err != nil {
		return nil, err
	}
	if err := check("output", &w.Output, cfg.Vocab, cfg.Hidden); err != nil {
		return nil, err
	}
	if err := vec("output_norm", w.OutputNorm, cfg.Hidden, false); err != nil {
		return nil, err
	}
	if err := vec("rope_freqs", w.RopeFreqs, cfg.RopeDim/2, true); err != nil {
		return nil, err
	}
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		for _, c := range []struct {
			name       string
			m          *Matrix
			rows, cols int
		}{
			{"attn_q", &l.Q, qDim, cfg.Hidden}, {"attn_k", &l.K, kvDim, cfg.Hidden}, {"attn_v", &l.V, kvDim, cfg.Hidden},
			{"attn_output", &l.Out, cfg.Hidden, qDim},
			{"ffn_gate", &l.FFNGate, cfg.FFN, cfg.Hidden}, {"ffn_up", &l.FFNUp, cfg.FFN, cfg.Hidden}, {"ffn_down", &l.FFNDown, cfg.Hidden, cfg.FFN},
		} {
			if err := check(p+c.name, c.m, c.rows, c.cols); err != nil {
				return nil, err
			}
		}
		for _, c := range []struct {
			name     string
			v        []float32
			n        int
			optional bool
		}{
			{"attn_norm", l.AttnNorm, cfg.Hidden, false}, {"ffn_norm", l.FFNNorm, cfg.Hidden, false},
			{"attn_q.bias", l.QBias, qDim, true}, {"attn_k.bias", l.KBias, kvDim, true}, {"attn_v.bias", l.VBias, kvDim, true},
			{"attn_q_norm", l.QNorm, cfg.HeadDim, !cfg.Family.QKNorm}, {"attn_k_norm", l.KNorm, cfg.HeadDim, !cfg.Family.QKNorm},
		} {
			if err := vec(p+c.name, c.v, c.n, c.optional); err != nil {
				return nil, err
			}
		}
	}
	return &Model{Config: cfg, W: w, k: k, threads: max(threads, 1)}, nil
}

// NewCache makes a key/value cache of size positions for m.
func (m *Model) NewCache(size int) (*kvcache.Cache, error) {
	return kvcache.New(m.Config.Layers, m.Config.KVHeads*m.Config.HeadDim, size)
}

// batch holds the activations of the tokens processed together.
type batch struct {
	x, h, q, k, v, att, o, gate, up, act, down [][]float32
}

func rows(n, dim int) [][]float32 {
	buf := make([]float32, n*dim)
	r := make([][]float32, n)
	for i := range r {
		r[i] = buf[i*dim : (i+1)*dim]
	}
	return r
}

func (m *Model) newBatch(n int) *batch {
	c := &m.Config
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	return &batch{
		x: rows(n, c.Hidden), h: rows(n, c.Hidden),
		q: rows(n, qDim), k: rows(n, kvDim), v: rows(n, kvDim), att: rows(n, qDim), o: rows(n, c.Hidden),
		gate: rows(n, c.FFN), up: rows(n, c.FFN), act: rows(n, c.FFN), down: rows(n, c.Hidden),
	}
}

// Forward runs tokens, which follow the cache's committed positions,
// through the model, commits them to the cache, and writes the logits of
// the last token to logits (Vocab elements) when logits is not nil. It
// returns kvcache.ErrFull (wrapped) when the tokens do not fit, leaving the
// cache as it was.
func (m *Model) Forward(tokens []int, cache *kvcache.Cache, logits []float32) error {
	c := &m.Config
	if len(tokens) == 0 {
		return fmt.Errorf("forward: no tokens")
	}
	if err := cache.Room(len(tokens)); err != nil {
		return err
	}
	for _, t := range tokens {
		if t < 0 || t >= c.Vocab {
			return fmt.Errorf("forward: token %d is outside the vocabulary of %d", t, c.Vocab)
		}
	}
	if logits != nil && len(logits) != c.Vocab {
		return fmt.Errorf("forward: logits has %d elements, want %d", len(logits), c.Vocab)
	}
	n, pos0 := len(tokens), cache.Len()
	b := m.newBatch(n)
	emb := &m.W.Embedding
	rb := emb.rowBytes()
	for i, t := range tokens {
		if err := m.k.Dequantize(emb.Type, emb.Data[t*rb:(t+1)*rb], b.x[i]); err != nil {
			return fmt.Errorf("forward: embedding: %w", err)
		}
	}
	ropes := make([]*rope, n)
	for i := range n {
		ropes[i] = newRope(c.RopeDim, c.Family.RopeNeox, c.RopeBase, c.RopeFreqScale, m.W.RopeFreqs)
		ropes[i].at(pos0 + i)
	}
	scale := float32(1 / math.Sqrt(float64(c.HeadDim)))
	kvDim := c.KVHeads * c.HeadDim
	for li := range m.W.Layers {
		l := &m.W.Layers[li]
		for i := range n {
			rmsNorm(b.h[i], b.x[i], l.AttnNorm, c.Eps)
		}
		if err := m.mul(b.h, &l.Q, b.q, &l.K, b.k, &l.V, b.v); err != nil {
			return err
		}
		for i := range n {
			addBias(b.q[i], l.QBias)
			addBias(b.k[i], l.KBias)
			addBias(b.v[i], l.VBias)
			if c.Family.QKNorm {
				for h := range c.Heads {
					s := b.q[i][h*c.HeadDim : (h+1)*c.HeadDim]
					rmsNorm(s, s, l.QNorm, c.Eps)
				}
				for h := range c.KVHeads {
					s := b.k[i][h*c.HeadDim : (h+1)*c.HeadDim]
					rmsNorm(s, s, l.KNorm, c.Eps)
				}
			}
			ropes[i].apply(b.q[i], c.Heads, c.HeadDim)
			ropes[i].apply(b.k[i], c.KVHeads, c.HeadDim)
			cache.Put(li, pos0+i, b.k[i], b.v[i])
		}
		keys, values := cache.Keys(li, pos0+n), cache.Values(li, pos0+n)
		m.attend(b, n, pos0, keys, values, kvDim, scale)
		if err := m.mul(b.att, &l.Out, b.o); err != nil {
			return err
		}
		for i := range n {
			add(b.x[i], b.o[i])
			rmsNorm(b.h[i], b.x[i], l.FFNNorm, c.Eps)
		}
		if err := m.mul(b.h, &l.FFNGate, b.gate, &l.FFNUp, b.up); err != nil {
			return err
		}
		for i := range n {
			for j, g := range b.gate[i] {
				b.act[i][j] = silu(g) * b.up[i][j]
			}
		}
		if err := m.mul(b.act, &l.FFNDown, b.down); err != nil {
			return err
		}
		for i := range n {
			add(b.x[i], b.down[i])
		}
	}
	if err := cache.Commit(tokens...); err != nil {
		return err
	}
	if logits == nil {
		return nil
	}
	last := b.x[n-1]
	rmsNorm(b.h[0], last, m.W.OutputNorm, c.Eps)
	return m.mul(b.h[:1], &m.W.Output, [][]float32{logits})
}

// mul multiplies xs by each matrix of pairs (matrix, outputs).
func (m *Model) mul(xs [][]float32, pairs ...any) error {
	var ws [3]*Matrix
	var ys [3][][]float32
	n := 0
	for i := 0; i < len(pairs); i += 2 {
		ws[n], ys[n] = pairs[i].(*Matrix), pairs[i+1].([][]float32)
		n++
	}
	if err := m.k.MatMul(ws[:n], xs, ys[:n]); err != nil {
		return fmt.Errorf("forward: %s %d×%d: %w", ws[0].Type, ws[0].Rows, ws[0].Cols, err)
	}
	return nil
}

// attend runs every query head of every token of the batch against the
// cache, token i seeing positions [0, pos0+i].
func (m *Model) attend(b *batch, n, pos0 int, keys, values []uint16, kvDim int, scale float32) {
	c := &m.Config
	group := c.Heads / c.KVHeads
	jobs := n * c.Heads
	workers := min(m.threads, jobs)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc scratch
			for job := w; job < jobs; job += workers {
				i, h := job/c.Heads, job%c.Heads
				off := (h / group) * c.HeadDim
				q := b.q[i][h*c.HeadDim : (h+1)*c.HeadDim]
				out := b.att[i][h*c.HeadDim : (h+1)*c.HeadDim]
				attention(out, q, keys, values, pos0+i+1, kvDim, off, scale, &sc)
			}
		}()
	}
	wg.Wait()
}

func addBias(x, b []float32) {
	if b != nil {
		add(x, b)
	}
}

func add(x, y []float32) {
	for i := range x {
		x[i] += y[i]
	}
}
