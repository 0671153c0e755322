package arch

import (
	"errors"
	"fmt"

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
	// Set is the ggml kernel set behind MatMul; attention (ScoresF16,
	// AccumulateF16) and the element-wise kernels (swiglu, the softmax
	// exponentials) run its forms too. nil means ggml.BestKernels().
	Set() *ggml.Kernels
}

// Matrix is a rows×cols weight matrix in its file type (ggml's ne[0] is
// cols).
type Matrix struct {
	Type       ggml.Type
	Data       []byte
	Rows, Cols int
	// Packed says Data holds the matrix in the type's packed layout
	// (ggml.Pack: rows interleaved for the packed kernel), not in file
	// layout: only ggml's packed kernel multiplies it, and a row is read
	// through ggml.PackedRow.
	Packed bool
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

// Model runs the forward pass. Its working memory is its own and reused
// from call to call, so Forward and ForwardBatch must not run
// concurrently (the engine serialises them).
type Model struct {
	Config  Config
	W       Weights
	k       Kernels
	ks      *ggml.Kernels // k.Set()
	vec     vecLevel      // the form of swiglu and expSub ks asks for
	threads int
	ws      workspace
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
	ks := k.Set()
	if ks == nil {
		ks = ggml.BestKernels()
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
		if m.Packed && !ks.Packable(m.Type, m.Rows, m.Cols) {
			return fmt.Errorf("%w: %s is packed, but a %d×%d %s matrix has no packed layout here", ErrUnsupported, name, m.Rows, m.Cols, m.Type)
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
	m := &Model{Config: cfg, W: w, k: k, ks: ks, vec: vecOf(ks), threads: max(threads, 1)}
	m.ws.init(m)
	return m, nil
}

// NewCache makes a key/value cache of size positions for m. Its memory
// grows as positions are used.
func (m *Model) NewCache(size int) (*kvcache.Cache, error) {
	return kvcache.New(m.Config.Layers, m.Config.KVHeads*m.Config.HeadDim, size)
}

// WorkspaceBytes is the memory of the model's working space, which grows
// with the largest batch (in tokens) and the longest context run so far:
// about 4·(5·Hidden + 2·KVHeads·HeadDim + 2·FFN) bytes per token of the
// largest batch.
func (m *Model) WorkspaceBytes() int64 { return m.ws.bytes() }

// Seq is one sequence's part of a batch: Tokens follow Cache's committed
// positions; Logits, when not nil (Vocab elements), receives the logits of
// the sequence's last token; Hidden, when not nil (Hidden elements),
// receives its final hidden state: after the output norm, the vector the
// LM head multiplies (what embeddings and reward models read). A sequence
// that asks for Hidden alone skips the LM head.
type Seq struct {
	Tokens []int
	Cache  *kvcache.Cache
	Logits []float32
	Hidden []float32
	// LoRA, when not nil, adds its low-rank updates to this sequence's
	// products (a LoRA adapter's side path); sequences of one batch may
	// each have their own.
	LoRA LowRank
}

// LowRank is a low-rank update of some of the model's weight matrices,
// applied beside them rather than merged into them (a LoRA adapter's side
// path): for a matrix w it updates, Apply adds Δw·xs[i] to ys[i]; for any
// other it does nothing. w points into the Model's W, so the matrices
// can be told apart by address.
type LowRank interface {
	Apply(w *Matrix, xs, ys [][]float32) error
}

// Forward runs tokens, which follow the cache's committed positions,
// through the model, commits them to the cache, and writes the logits of
// the last token to logits (Vocab elements) when logits is not nil. It
// returns kvcache.ErrFull (wrapped) when the tokens do not fit, leaving the
// cache as it was. It is ForwardBatch with one sequence.
func (m *Model) Forward(tokens []int, cache *kvcache.Cache, logits []float32) error {
	one := m.ws.one[:1]
	one[0] = Seq{Tokens: tokens, Cache: cache, Logits: logits}
	err := m.ForwardBatch(one)
	one[0] = Seq{}
	return err
}

// ForwardBatch runs the tokens of all seqs through the model together: every
// weight matrix is multiplied once by all tokens of all sequences (one
// Kernels.MatMul call per matrix group), each token attends only to its own
// sequence's cache, and each sequence's tokens are committed to its cache.
// It fails (wrapping kvcache.ErrFull) before changing anything if any
// sequence does not fit. The caches must be distinct.
//
// Each sequence's results are bit for bit those of running it alone: the
// kernels work on each token's activations separately.
//
// It reuses the model's working memory: calls must not run concurrently.
// Once that memory has grown to the batch's size, a call allocates
// nothing (the caches allocate a page every kvcache.PageSize positions).
func (m *Model) ForwardBatch(seqs []Seq) error {
	n, err := m.check(seqs)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if err := s.Cache.Reserve(len(s.Tokens)); err != nil {
			return err // checked by m.check; cannot happen
		}
	}
	ws := &m.ws
	ws.grow(m, n)
	maxPos := 0
	t := 0
	emb := &m.W.Embedding
	rb := emb.rowBytes()
	for _, s := range seqs {
		pos0 := s.Cache.Len()
		for i, tok := range s.Tokens {
			ws.pos[t], ws.cache[t], ws.lora[t] = pos0+i, s.Cache, s.LoRA
			maxPos = max(maxPos, pos0+i)
			ws.ropes[t].at(pos0 + i)
			row := emb.Data[tok*rb : (tok+1)*rb]
			if emb.Packed { // tied to the packed output matrix
				if cap(ws.embRow) < rb { // once
					ws.embRow = make([]byte, rb)
				}
				row = ws.embRow[:rb]
				if err := ggml.PackedRow(emb.Type, row, emb.Data, emb.Rows, emb.Cols, tok); err != nil {
					ws.release()
					return fmt.Errorf("forward: embedding: %w", err)
				}
			}
			if err := m.k.Dequantize(emb.Type, row, ws.x[t]); err != nil {
				ws.release()
				return fmt.Errorf("forward: embedding: %w", err)
			}
			t++
		}
	}
	ws.growScratch(m, maxPos+1)
	if err := m.layers(n); err != nil {
		ws.release()
		return err
	}
	for _, s := range seqs {
		if err := s.Cache.Commit(s.Tokens...); err != nil {
			ws.release()
			return err // checked by m.check; cannot happen
		}
	}
	err = m.logits(seqs)
	ws.release()
	return err
}

// check validates seqs and returns their total number of tokens.
func (m *Model) check(seqs []Seq) (int, error) {
	c := &m.Config
	if len(seqs) == 0 {
		return 0, errors.New("forward: no sequences")
	}
	n := 0
	for si, s := range seqs {
		if len(s.Tokens) == 0 {
			return 0, fmt.Errorf("forward: sequence %d: no tokens", si)
		}
		if s.Cache == nil {
			return 0, fmt.Errorf("forward: sequence %d: no cache", si)
		}
		if s.Cache.Layers() != c.Layers || s.Cache.KVDim() != c.KVHeads*c.HeadDim {
			return 0, fmt.Errorf("forward: sequence %d: cache of %d layers × %d does not fit the model's %d × %d",
				si, s.Cache.Layers(), s.Cache.KVDim(), c.Layers, c.KVHeads*c.HeadDim)
		}
		for sj := range si {
			if seqs[sj].Cache == s.Cache {
				return 0, fmt.Errorf("forward: sequences %d and %d share a cache", sj, si)
			}
		}
		if err := s.Cache.Room(len(s.Tokens)); err != nil {
			return 0, fmt.Errorf("forward: sequence %d: %w", si, err)
		}
		for _, t := range s.Tokens {
			if t < 0 || t >= c.Vocab {
				return 0, fmt.Errorf("forward: sequence %d: token %d is outside the vocabulary of %d", si, t, c.Vocab)
			}
		}
		if s.Logits != nil && len(s.Logits) != c.Vocab {
			return 0, fmt.Errorf("forward: sequence %d: logits has %d elements, want %d", si, len(s.Logits), c.Vocab)
		}
		if s.Hidden != nil && len(s.Hidden) != c.Hidden {
			return 0, fmt.Errorf("forward: sequence %d: hidden has %d elements, want %d", si, len(s.Hidden), c.Hidden)
		}
		n += len(s.Tokens)
	}
	return n, nil
}

// layers runs the n tokens in the workspace through every block, storing
// their keys and values in their caches.
func (m *Model) layers(n int) error {
	c := &m.Config
	ws := &m.ws
	x, h, q, k, v := ws.x[:n], ws.h[:n], ws.q[:n], ws.k[:n], ws.v[:n]
	att, o, gate, up := ws.att[:n], ws.o[:n], ws.gate[:n], ws.up[:n]
	for li := range m.W.Layers {
		l := &m.W.Layers[li]
		for i := range n {
			rmsNorm(h[i], x[i], l.AttnNorm, c.Eps)
		}
		if err := m.mul3(h, &l.Q, q, &l.K, k, &l.V, v); err != nil {
			return err
		}
		for i := range n {
			addBias(q[i], l.QBias)
			addBias(k[i], l.KBias)
			addBias(v[i], l.VBias)
			if c.Family.QKNorm {
				for hd := range c.Heads {
					s := q[i][hd*c.HeadDim : (hd+1)*c.HeadDim]
					rmsNorm(s, s, l.QNorm, c.Eps)
				}
				for hd := range c.KVHeads {
					s := k[i][hd*c.HeadDim : (hd+1)*c.HeadDim]
					rmsNorm(s, s, l.KNorm, c.Eps)
				}
			}
			ws.ropes[i].apply(q[i], c.Heads, c.HeadDim)
			ws.ropes[i].apply(k[i], c.KVHeads, c.HeadDim)
			ws.cache[i].Put(li, ws.pos[i], k[i], v[i])
		}
		if err := m.attend(li, n); err != nil {
			return err
		}
		if err := m.mul1(att, &l.Out, o); err != nil {
			return err
		}
		for i := range n {
			add(x[i], o[i])
			rmsNorm(h[i], x[i], l.FFNNorm, c.Eps)
		}
		if err := m.mul3(h, &l.FFNGate, gate, &l.FFNUp, up, nil, nil); err != nil {
			return err
		}
		for i := range n { // the activation replaces the gate
			swigluAt(m.vec, gate[i], up[i])
		}
		if err := m.mul1(gate, &l.FFNDown, o); err != nil {
			return err
		}
		for i := range n {
			add(x[i], o[i])
		}
	}
	return nil
}

// logits runs the output norm once for the last tokens of the sequences
// that want logits or hidden states, and the head for those that want
// logits.
func (m *Model) logits(seqs []Seq) error {
	ws := &m.ws
	nl, t := 0, 0
	for _, s := range seqs {
		t += len(s.Tokens)
		if s.Logits == nil && s.Hidden == nil {
			continue
		}
		rmsNorm(ws.h[nl], ws.x[t-1], m.W.OutputNorm, m.Config.Eps)
		copy(s.Hidden, ws.h[nl])
		if s.Logits == nil {
			continue
		}
		ws.out[nl], ws.lora[nl] = s.Logits, s.LoRA
		nl++
	}
	if nl == 0 {
		return nil
	}
	err := m.mul1(ws.h[:nl], &m.W.Output, ws.out[:nl])
	clear(ws.out[:nl])
	return err
}

// mul1 computes ys = w·xs.
func (m *Model) mul1(xs [][]float32, w *Matrix, ys [][]float32) error {
	return m.mul3(xs, w, ys, nil, nil, nil, nil)
}

// mul3 multiplies xs by up to three matrices in one MatMul call; unused
// matrices are nil.
func (m *Model) mul3(xs [][]float32, w0 *Matrix, y0 [][]float32, w1 *Matrix, y1 [][]float32, w2 *Matrix, y2 [][]float32) error {
	ws := &m.ws
	ws.mw[0], ws.my[0] = w0, y0
	nm := 1
	if w1 != nil {
		ws.mw[1], ws.my[1] = w1, y1
		nm++
	}
	if w2 != nil {
		ws.mw[2], ws.my[2] = w2, y2
		nm++
	}
	err := m.k.MatMul(ws.mw[:nm], xs, ws.my[:nm])
	if err == nil {
		err = m.lowRank(xs, ws.mw[:nm], ws.my[:nm])
	}
	clear(ws.mw[:])
	clear(ws.my[:])
	if err != nil {
		return fmt.Errorf("forward: %s %d×%d: %w", w0.Type, w0.Rows, w0.Cols, err)
	}
	return nil
}

// lowRank adds the low-rank updates of the tokens' sequences (ws.lora,
// one per row of xs) to the products ys of the matrices ws, for each run
// of consecutive tokens sharing an update.
func (m *Model) lowRank(xs [][]float32, ws []*Matrix, ys [][][]float32) error {
	lr := m.ws.lora[:len(xs)]
	for a := 0; a < len(xs); {
		b := a + 1
		for b < len(xs) && lr[b] == lr[a] {
			b++
		}
		if lr[a] != nil {
			for j, w := range ws {
				if err := lr[a].Apply(w, xs[a:b], ys[j][a:b]); err != nil {
					return fmt.Errorf("low-rank update: %w", err)
				}
			}
		}
		a = b
	}
	return nil
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
