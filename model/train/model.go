// Package train trains LoRA adapters on a frozen GGUF model: a forward
// pass that records what its backward pass needs, the backward pass
// through RMSNorm, RoPE, causal attention with grouped key/value heads,
// SwiGLU, the QKV biases and the frozen (possibly quantized) matrices,
// the log-probability of an answer, and AdamW.
//
// The forward pass is the engine's (model/arch) computed over a whole
// sequence at once in float32, with the LoRA side paths added; its logits
// agree with the engine's within float32 rounding (the test checks it).
// The backward pass is written by hand for speed: SIMD dot products and
// axpys over rows, the attention weights recomputed from the stored
// log-sum-exp rather than kept, and the frozen matrices decoded tile by
// tile (frozen.go).
package train

import (
	"errors"
	"fmt"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/ggml"
)

// ErrTooLong is returned (wrapped) for a sequence longer than the
// model's context.
var ErrTooLong = errors.New("sequence longer than the context")

// Model is a frozen base model to train adapters on. Its methods must not
// be called concurrently.
type Model struct {
	Config   arch.Config
	W        *arch.Weights
	threads  int
	pool     *ggml.Pool
	acts     []*ggml.Activation
	logits   []float32      // the head's logits of up to headChunk(type) positions, reused
	outT     []byte         // the output matrix transposed in Q8_0 (transposed.go)
	wtBuf    []byte         // a block matrix transposed in Q8_0, reused
	backOut  []float32      // matmulBackQ8's products, reused
	attnBufs []*attnScratch // each worker's attention buffers, reused
	tiles    [][]float32    // each worker's decoded tile, reused
	// tapes holds the tape of tapeOwner (at most one at a time: Backward
	// gives it back) and its backward pass's buffers; passes holds the
	// buffers of a pass that keeps no tape (arena.go)
	tapes, passes arena
	tapeOwner     *Tape
	release       []func() // what Close releases besides the arenas and logits
	logitsRelease func()   // releases logits
	closed        bool
	q8Back        bool // quantized bases' transposed products through Q8_0 (New sets it; tests switch it)
	// Context caps a sequence's length; 0 means Config.ContextLength.
	Context int
}

// New wraps the weights of a model (in file layout, not repacked) for
// training with threads workers.
func New(cfg arch.Config, w *arch.Weights, threads int) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ValueDim != cfg.HeadDim {
		return nil, fmt.Errorf("train: %w: value head size %d differs from key head size %d", arch.ErrUnsupported, cfg.ValueDim, cfg.HeadDim)
	}
	if len(w.Layers) != cfg.Layers {
		return nil, fmt.Errorf("train: %d layers of weights, the config says %d", len(w.Layers), cfg.Layers)
	}
	threads = max(threads, 1)
	return &Model{Config: cfg, W: w, threads: threads, pool: ggml.NewPool(threads), q8Back: true}, nil
}

// ErrClosed is returned by the methods of a closed Model.
var ErrClosed = errors.New("train: model closed")

// Close stops the workers and releases the model's buffers; a Tape of it
// is of no further use.
func (m *Model) Close() {
	if m.closed {
		return
	}
	m.closed = true
	m.pool.Close()
	m.tapes.free()
	m.passes.free()
	for _, release := range m.release {
		release()
	}
	if m.logitsRelease != nil {
		m.logitsRelease()
	}
	m.release, m.outT, m.logits, m.logitsRelease, m.tapeOwner = nil, nil, nil, nil, nil
}

// giveBack returns the tape arena if tp holds it.
func (m *Model) giveBack(tp *Tape) {
	if tp != nil && m.tapeOwner == tp {
		m.tapeOwner = nil
	}
}

// Seq is a token sequence whose log-probability is wanted from position
// Start on: Σ_{t ≥ Start} log p(Tokens[t] | Tokens[:t]). Start ≥ 1.
// Mask, when not nil, keeps only the tokens t with Mask[t] in the sum
// (see Counts): an answer's tool results are context, not generated.
type Seq struct {
	Tokens []int
	Start  int
	Mask   []bool
}

// layerTape is what the backward pass needs of one block.
type layerTape struct {
	x, x2      []float32 // residual stream entering the attention and the FFN (n×Hidden)
	r1, r2     []float32 // their RMSNorm scales (n)
	qPre, kPre []float32 // queries and keys before the per-head norm (QKNorm only)
	rq, rk     []float32 // their per-head norm scales
	q, k, v    []float32 // queries, keys, values as attention saw them
	lse        []float32 // attention log-sum-exp (Heads×n)
	att        []float32 // attention output (n×Heads·HeadDim)
	g, u       []float32 // FFN gate and up projections (n×FFN)
	lora       [numTargets][]float32
}

// layout lays out the rows of one forward pass: one sequence, or the two
// answers of a preference pair sharing their prompt. Then the shared
// prefix is computed once: the rows are the first sequence's, then the
// second's own rows (from the end of the shared prefix on, at their own
// positions), which attend to the prefix and to each other but not to
// the first sequence's own rows [g0, g1). Every row computes exactly
// what it computes in a pass over its own sequence (TestPairMatchesSeparate).
type layout struct {
	tokens []int
	pos    []int     // each row's position in its sequence (RoPE)
	g0, g1 int       // rows ≥ g1 do not attend to rows [g0, g1)
	heads  []headRow // the rows whose next token's log-probability is summed
	seqs   []Seq
}

// headRow is a row whose hidden state predicts target, a token of
// sequence seq's answer that counts (Seq.Mask).
type headRow struct{ row, target, seq int }

// counts is s.Counts(t) that a mask of the wrong length (which forward
// refuses, saying so) cannot make panic.
func counts(s Seq, t int) bool { return s.Mask == nil || t < len(s.Mask) && s.Mask[t] }

// single lays out one sequence.
func single(s Seq) *layout {
	n := len(s.Tokens)
	l := &layout{tokens: s.Tokens, pos: make([]int, n), g0: n, g1: n, seqs: []Seq{s}}
	for t := range n {
		l.pos[t] = t
	}
	for t := s.Start - 1; t < n-1; t++ {
		if counts(s, t+1) {
			l.heads = append(l.heads, headRow{t, s.Tokens[t+1], 0})
		}
	}
	return l
}

// shared lays out two sequences sharing their longest common prefix up
// to the first answer token.
func shared(a, b Seq) *layout {
	p := 0
	for p < min(a.Start, b.Start) && a.Tokens[p] == b.Tokens[p] {
		p++
	}
	na, nb := len(a.Tokens), len(b.Tokens)
	l := single(a)
	l.seqs = []Seq{a, b}
	l.tokens = append(append(make([]int, 0, na+nb-p), a.Tokens...), b.Tokens[p:]...)
	for t := p; t < nb; t++ {
		l.pos = append(l.pos, t)
	}
	l.g0, l.g1 = p, na
	for t := b.Start - 1; t < nb-1; t++ {
		if !counts(b, t+1) {
			continue
		}
		row := t
		if t >= p {
			row = na + t - p
		}
		l.heads = append(l.heads, headRow{row, b.Tokens[t+1], 1})
	}
	return l
}

// Tape is a forward pass's record, for Backward.
type Tape struct {
	al     allocator // where its buffers (and its backward pass's) come from
	lay    *layout
	n      int
	rope   *ropeTable
	layers []layerTape
	xf     []float32  // final residual stream (n×Hidden)
	rf     []float32  // its norm scales at the head rows
	dhn    []float32  // gradient of each head row's log-probability w.r.t. its normed state (heads×Hidden)
	logP   [2]float64 // each sequence's log-probability
	LogP   float64    // the (first) sequence's log-probability
}

// LogProb returns the log-probability of s under the model with adapter
// ad (nil: the base), keeping nothing for a backward pass.
func (m *Model) LogProb(s Seq, ad *Adapter) (float64, error) {
	tp, err := m.forward(single(s), ad, false)
	if err != nil {
		return 0, err
	}
	return tp.LogP, nil
}

// logProbs returns the log-probabilities of a pair's two sequences in
// one pass that computes their shared prompt once.
func (m *Model) logProbs(a, b Seq, ad *Adapter) (float64, float64, error) {
	tp, err := m.forward(shared(a, b), ad, false)
	if err != nil {
		return 0, 0, err
	}
	return tp.logP[0], tp.logP[1], nil
}

// Forward runs s through the model with adapter ad and returns the tape
// for Backward; the log-probability is Tape.LogP.
func (m *Model) Forward(s Seq, ad *Adapter) (*Tape, error) { return m.forward(single(s), ad, true) }

func (m *Model) checkSeq(s Seq) error {
	c := &m.Config
	limit := m.Context
	if limit <= 0 {
		limit = c.ContextLength
	}
	if limit > 0 && len(s.Tokens) > limit {
		return fmt.Errorf("train: %w: %d tokens, the context holds %d", ErrTooLong, len(s.Tokens), limit)
	}
	if s.Start < 1 || s.Start >= len(s.Tokens) {
		return fmt.Errorf("train: answer starts at %d in a sequence of %d tokens", s.Start, len(s.Tokens))
	}
	if err := s.checkMask(); err != nil {
		return err
	}
	for _, t := range s.Tokens {
		if t < 0 || t >= c.Vocab {
			return fmt.Errorf("train: token %d is outside the vocabulary of %d", t, c.Vocab)
		}
	}
	return nil
}

func (m *Model) forward(lay *layout, ad *Adapter, keep bool) (tp *Tape, err error) {
	if m.closed {
		return nil, ErrClosed
	}
	for _, s := range lay.seqs {
		if err := m.checkSeq(s); err != nil {
			return nil, err
		}
	}
	c := &m.Config
	if ad != nil {
		if err := ad.Check(c); err != nil {
			return nil, err
		}
	}
	n := len(lay.tokens)
	H, qDim, kvDim := c.Hidden, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	maxPos := 0
	for _, p := range lay.pos {
		maxPos = max(maxPos, p)
	}
	tp = &Tape{lay: lay, n: n, rope: newRopeTable(maxPos+1, c.RopeDim, c.Family.RopeNeox, c.RopeBase, c.RopeFreqScale, m.W.RopeFreqs)}
	switch {
	case !keep:
		m.passes.reset()
		tp.al = allocator{&m.passes}
	case m.tapeOwner == nil:
		m.tapes.reset()
		m.tapeOwner, tp.al = tp, allocator{&m.tapes}
		defer func() {
			if err != nil {
				m.giveBack(tp)
			}
		}()
	} // else another tape holds the arena: this one's buffers come from the heap
	al := tp.al
	x := al.floats(n * H)
	emb := &m.W.Embedding
	rb, _ := emb.Type.RowSize(int64(emb.Cols))
	for t, tok := range lay.tokens {
		if err := ggml.Dequantize(emb.Type, emb.Data[tok*int(rb):(tok+1)*int(rb)], x[t*H:(t+1)*H]); err != nil {
			return nil, fmt.Errorf("train: embedding: %w", err)
		}
	}
	// buffers: kept in the tape with keep, else made once and reused by
	// every block
	var scratch [8][]float32
	buf := func(i, size int) []float32 {
		if keep {
			return al.floats(size)
		}
		if scratch[i] == nil {
			scratch[i] = al.floats(size)
		}
		return scratch[i]
	}
	h := al.floats(n * H)
	o := al.floats(n * H)
	a := al.floats(n * c.FFN)
	var tmp layerTape
	for li := range m.W.Layers {
		l := &m.W.Layers[li]
		lt := &tmp
		if keep {
			tp.layers = append(tp.layers, layerTape{})
			lt = &tp.layers[li]
		}
		var pairs [numTargets]*Pair
		if ad != nil {
			pairs = ad.Layers[li]
		}
		lt.x = x
		lt.r1 = al.floats(n)
		if err := m.perRow(n, func(t int) {
			lt.r1[t] = rmsNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], l.AttnNorm, c.Eps)
		}); err != nil {
			return nil, err
		}
		q, k, v := buf(0, n*qDim), buf(1, n*kvDim), buf(2, n*kvDim)
		for _, p := range []struct {
			t    Target
			w    *arch.Matrix
			b, y []float32
		}{{TargetQ, &l.Q, l.QBias, q}, {TargetK, &l.K, l.KBias, k}, {TargetV, &l.V, l.VBias, v}} {
			u, err := m.linear(al, p.w, pairs[p.t], ad, h, n, p.y)
			if err != nil {
				return nil, err
			}
			lt.lora[p.t] = u
			if p.b != nil {
				for t := range n {
					addTo(p.y[t*len(p.b):(t+1)*len(p.b)], p.b)
				}
			}
		}
		if c.Family.QKNorm {
			lt.qPre, lt.kPre = al.floats(len(q)), al.floats(len(k))
			copy(lt.qPre, q)
			copy(lt.kPre, k)
			lt.rq, lt.rk = al.floats(n*c.Heads), al.floats(n*c.KVHeads)
		}
		if err := m.perRow(n, func(t int) {
			if c.Family.QKNorm {
				d := c.HeadDim
				for i := t * c.Heads; i < (t+1)*c.Heads; i++ {
					lt.rq[i] = rmsNorm(q[i*d:(i+1)*d], lt.qPre[i*d:(i+1)*d], l.QNorm, c.Eps)
				}
				for i := t * c.KVHeads; i < (t+1)*c.KVHeads; i++ {
					lt.rk[i] = rmsNorm(k[i*d:(i+1)*d], lt.kPre[i*d:(i+1)*d], l.KNorm, c.Eps)
				}
			}
			rope(tp.rope, q[t*qDim:(t+1)*qDim], lay.pos[t], c.Heads, c.HeadDim, false)
			rope(tp.rope, k[t*kvDim:(t+1)*kvDim], lay.pos[t], c.KVHeads, c.HeadDim, false)
		}); err != nil {
			return nil, err
		}
		lt.q, lt.k, lt.v = q, k, v
		lt.att, lt.lse = buf(3, n*qDim), al.floats(c.Heads*n)
		if err := m.attend(lt, lay, n); err != nil {
			return nil, err
		}
		u, err := m.linear(al, &l.Out, pairs[TargetOut], ad, lt.att, n, o)
		if err != nil {
			return nil, err
		}
		lt.lora[TargetOut] = u
		x2 := buf(4, n*H)
		for i := range x2 {
			x2[i] = x[i] + o[i]
		}
		lt.x2, lt.r2 = x2, al.floats(n)
		if err := m.perRow(n, func(t int) {
			lt.r2[t] = rmsNorm(h[t*H:(t+1)*H], x2[t*H:(t+1)*H], l.FFNNorm, c.Eps)
		}); err != nil {
			return nil, err
		}
		lt.g, lt.u = buf(5, n*c.FFN), buf(6, n*c.FFN)
		if lt.lora[TargetGate], err = m.linear(al, &l.FFNGate, pairs[TargetGate], ad, h, n, lt.g); err != nil {
			return nil, err
		}
		if lt.lora[TargetUp], err = m.linear(al, &l.FFNUp, pairs[TargetUp], ad, h, n, lt.u); err != nil {
			return nil, err
		}
		if err := m.swiglu(a, lt.g, lt.u, n); err != nil {
			return nil, err
		}
		if lt.lora[TargetDown], err = m.linear(al, &l.FFNDown, pairs[TargetDown], ad, a, n, o); err != nil {
			return nil, err
		}
		if keep {
			x = al.floats(n * H)
		} // else the residual stream is updated in place
		for i := range x {
			x[i] = x2[i] + o[i]
		}
	}
	tp.xf = x
	if err := m.head(tp, keep); err != nil {
		return nil, err
	}
	if !keep {
		tp.xf = nil
	}
	return tp, nil
}

func addTo(y, b []float32) {
	for i, v := range b {
		y[i] += v
	}
}

// linear computes y = x·wᵀ plus the LoRA side path of pair p (when not
// nil) and returns the side path's inner activations u = x·Aᵀ (n×Rank),
// allocated by al.
func (m *Model) linear(al allocator, w *arch.Matrix, p *Pair, ad *Adapter, x []float32, n int, y []float32) ([]float32, error) {
	if err := m.matmul(w, x, n, y); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if p == nil {
		return nil, nil
	}
	r, s := ad.Rank, ad.Scale()
	u := al.floats(n * r)
	err := m.split(n, func(t0, t1 int) error {
		for t := t0; t < t1; t++ {
			xt, yt, ut := x[t*p.In:(t+1)*p.In], y[t*p.Out:(t+1)*p.Out], u[t*r:(t+1)*r]
			for j := range r {
				ut[j] = dot(p.A[j*p.In:(j+1)*p.In], xt)
				axpy(yt, s*ut[j], p.Bt[j*p.Out:(j+1)*p.Out])
			}
		}
		return nil
	})
	return u, err
}

// linearBack adds the gradient with respect to x of linear to dx (nil:
// not wanted) and the gradients of the pair's A and Bᵀ to gp, given dy.
func (m *Model) linearBack(al allocator, w *arch.Matrix, p, gp *Pair, ad *Adapter, x, u, dy []float32, n int, dx []float32) error {
	if dx != nil {
		if err := m.matmulBack(w, dy, n, dx); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	if p == nil {
		return nil
	}
	r, s := ad.Rank, ad.Scale()
	du := al.floats(n * r)
	if err := m.split(n, func(t0, t1 int) error {
		for t := t0; t < t1; t++ {
			var dxt []float32
			if dx != nil {
				dxt = dx[t*p.In : (t+1)*p.In]
			}
			dyt := dy[t*p.Out : (t+1)*p.Out]
			for j := range r {
				g := s * dot(p.Bt[j*p.Out:(j+1)*p.Out], dyt)
				du[t*r+j] = g
				if dx != nil {
					axpy(dxt, g, p.A[j*p.In:(j+1)*p.In])
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if haveGemm() && r%4 == 0 && p.Out%16 == 0 && p.In%16 == 0 {
		return m.loraGrads(al, gp, u, du, dy, x, n, r, s)
	}
	return m.pool.Parallel(r, 1, func(j int) {
		gb, ga := gp.Bt[j*p.Out:(j+1)*p.Out], gp.A[j*p.In:(j+1)*p.In]
		for t := range n {
			axpy(gb, s*u[t*r+j], dy[t*p.Out:(t+1)*p.Out])
			axpy(ga, du[t*r+j], x[t*p.In:(t+1)*p.In])
		}
	})
}

// loraGrads adds to the gradients gp of a pair Σ_t s·u[t][j]·dy[t] (to
// row j of Bᵀ) and Σ_t du[t][j]·x[t] (to row j of A) with the
// register-blocked kernel: four ranks by sixteen columns in registers,
// the tokens summed in order by fused multiply-adds, as the axpy loop
// does; the sum is then added to the gradient (on a zero gradient, the
// axpy loop's result bit for bit).
func (m *Model) loraGrads(al allocator, gp *Pair, u, du, dy, x []float32, n, r int, s float32) error {
	ut, dut := al.floats(r*n), al.floats(r*n) // s·u and du by rank
	for t := range n {
		for j := range r {
			ut[j*n+t], dut[j*n+t] = s*u[t*r+j], du[t*r+j]
		}
	}
	out, in := gp.Out/16, gp.In/16
	return m.pool.Parallel(out+in, 4, func(k int) {
		g, coef, src, stride, c := gp.Bt, ut, dy, gp.Out, 16*k
		if k >= out {
			g, coef, src, stride, c = gp.A, dut, x, gp.In, 16*(k-out)
		}
		var gq, cq [4]*float32
		for j0 := 0; j0 < r; j0 += 4 {
			for i := range 4 {
				gq[i], cq[i] = &g[(j0+i)*stride+c], &coef[(j0+i)*n]
			}
			gemm4x16(&gq, &cq, src[c:], stride, n)
		}
	})
}

// attend runs causal attention for every head of the tape's block.
func (m *Model) attend(lt *layerTape, lay *layout, n int) error {
	c := &m.Config
	d, qDim, kvDim := c.HeadDim, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	scale := float32(1 / sqrt64(float64(d)))
	group := c.Heads / c.KVHeads
	if blockedAttention(d) {
		for w := range m.threads {
			m.attnScratch(w, n, d, false)
		}
		return m.pool.Parallel(m.threads, 1, func(w int) {
			s := m.attnBufs[w]
			for h := w; h < c.Heads; h += m.threads {
				g := h / group
				attendHeadBlocked(s, headView[float32]{lt.att, qDim, h * d}, headView[float32]{lt.q, qDim, h * d},
					headView[float32]{lt.k, kvDim, g * d}, headView[float32]{lt.v, kvDim, g * d},
					lt.lse[h*n:(h+1)*n], lay.g0, lay.g1, scale)
			}
		})
	}
	return m.pool.Parallel(c.Heads, 1, func(h int) {
		g := h / group
		scores := make([]float32, n)
		attendHead(headView[float32]{lt.att, qDim, h * d}, headView[float32]{lt.q, qDim, h * d},
			headView[float32]{lt.k, kvDim, g * d}, headView[float32]{lt.v, kvDim, g * d},
			lt.lse[h*n:(h+1)*n], n, d, scale, lay.g0, lay.g1, scores)
	})
}

// headChunk is how many answer positions' logits are held at once for an
// output matrix of type t: 64 (39 MiB at a 151936-token vocabulary), or
// 256 for the float types, whose products decode the whole matrix for
// every chunk (forward and back) while the quantized types' run on a Wᵀ
// kept in Q8_0 and on activations that must stay in the cache.
func headChunk(t ggml.Type) int {
	if floatType(t) {
		return 256
	}
	return 64
}

// logitsBuf returns the reused logits buffer with room for n values.
func (m *Model) logitsBuf(n int) []float32 {
	if cap(m.logits) < n {
		if m.logitsRelease != nil {
			m.logitsRelease()
		}
		m.logits, m.logitsRelease = offHeapFloats(n)
	}
	return m.logits[:n]
}

// head computes the log-probabilities of the answer tokens: the output
// norm and matrix give at each head row the logits of its target. With
// keep it also stores the gradient of each row's log-probability with
// respect to its normed state, (onehot − softmax)·W, so that the
// backward pass only scales it by the loss's coefficient: the output
// matrix is never run again.
func (m *Model) head(tp *Tape, keep bool) error {
	c := &m.Config
	H, V := c.Hidden, c.Vocab
	heads := tp.lay.heads
	na := len(heads)
	tp.rf = tp.al.floats(na)
	if keep {
		tp.dhn = tp.al.zeros(na * H)
	}
	chunk := headChunk(m.W.Output.Type)
	hn := tp.al.floats(min(na, chunk) * H)
	logits := m.logitsBuf(min(na, chunk) * V)
	lps := make([]float64, na)
	for a0 := 0; a0 < na; a0 += chunk {
		a1 := min(a0+chunk, na)
		k := a1 - a0
		for a := a0; a < a1; a++ {
			t := heads[a].row
			tp.rf[a] = rmsNorm(hn[(a-a0)*H:(a-a0+1)*H], tp.xf[t*H:(t+1)*H], m.W.OutputNorm, c.Eps)
		}
		if err := m.matmul(&m.W.Output, hn[:k*H], k, logits[:k*V]); err != nil {
			return fmt.Errorf("train: output: %w", err)
		}
		if err := m.split(k, func(i0, i1 int) error {
			for i := i0; i < i1; i++ {
				lps[a0+i] = logSoftmax(logits[i*V:(i+1)*V], heads[a0+i].target, keep)
			}
			return nil
		}); err != nil {
			return err
		}
		if keep {
			if err := m.matmulBack(&m.W.Output, logits[:k*V], k, tp.dhn[a0*H:a1*H]); err != nil {
				return fmt.Errorf("train: output: %w", err)
			}
		}
	}
	for a, lp := range lps { // in order: the same sum whatever the threads
		tp.logP[heads[a].seq] += lp
	}
	tp.LogP = tp.logP[0]
	return nil
}

// Backward adds to grad the gradient of coef·LogP with respect to the
// adapter ad the tape was recorded with.
func (m *Model) Backward(tp *Tape, ad, grad *Adapter, coef float32) error {
	return m.backward(tp, ad, grad, [2]float32{coef, 0})
}

// backward adds to grad the gradient of Σ coefs[s]·logP[s] with respect
// to the adapter ad the tape was recorded with.
func (m *Model) backward(tp *Tape, ad, grad *Adapter, coefs [2]float32) error {
	if m.closed {
		return ErrClosed
	}
	if tp.xf == nil {
		return errors.New("train: the tape was recorded without keeping activations, or has been used")
	}
	defer func() { // a tape serves one backward pass
		tp.layers, tp.xf, tp.dhn = nil, nil, nil
		m.giveBack(tp)
	}()
	al := tp.al
	cfg := &m.Config
	n, H := tp.n, cfg.Hidden
	qDim, kvDim, d := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim, cfg.HeadDim
	lay := tp.lay
	dx := al.zeros(n * H)
	// the head: its gradients were computed by the forward pass
	dhn := al.floats(H)
	for a, hr := range lay.heads {
		cf := coefs[hr.seq]
		if cf == 0 {
			continue
		}
		for i, g := range tp.dhn[a*H : (a+1)*H] {
			dhn[i] = cf * g
		}
		t := hr.row
		rmsNormBack(dx[t*H:(t+1)*H], tp.xf[t*H:(t+1)*H], m.W.OutputNorm, tp.rf[a], dhn)
	}
	// the blocks, last first; dx is the gradient of the residual stream
	h := al.floats(n * H)
	dh := al.floats(n * H)
	a := al.floats(n * cfg.FFN)
	da := al.floats(n * cfg.FFN)
	dg := al.floats(n * cfg.FFN)
	du := al.floats(n * cfg.FFN)
	datt := al.floats(n * qDim)
	dq := al.floats(n * qDim)
	dk, dv := al.floats(n*kvDim), al.floats(n*kvDim)
	dkh, dvh := al.floats(cfg.Heads*n*d), al.floats(cfg.Heads*n*d)
	var nq, nk []float32 // dq and dk before the per-head norms' backward
	if cfg.Family.QKNorm {
		nq, nk = al.floats(n*qDim), al.floats(n*kvDim)
	}
	for li := cfg.Layers - 1; li >= 0; li-- {
		l, lt := &m.W.Layers[li], &tp.layers[li]
		var pairs, gpairs [numTargets]*Pair
		if ad != nil {
			pairs, gpairs = ad.Layers[li], grad.Layers[li]
		}
		// FFN: x3 = x2 + down(swiglu(gate(h2), up(h2)))
		if err := m.swiglu(a, lt.g, lt.u, n); err != nil {
			return err
		}
		clear(da)
		if err := m.linearBack(al, &l.FFNDown, pairs[TargetDown], gpairs[TargetDown], ad, a, lt.lora[TargetDown], dx, n, da); err != nil {
			return err
		}
		F := cfg.FFN
		if err := m.perRow(n, func(t int) {
			swigluBack(dg[t*F:(t+1)*F], du[t*F:(t+1)*F], lt.g[t*F:(t+1)*F], lt.u[t*F:(t+1)*F], da[t*F:(t+1)*F])
			rmsNorm(h[t*H:(t+1)*H], lt.x2[t*H:(t+1)*H], l.FFNNorm, cfg.Eps)
		}); err != nil {
			return err
		}
		clear(dh)
		if err := m.linearBack(al, &l.FFNGate, pairs[TargetGate], gpairs[TargetGate], ad, h, lt.lora[TargetGate], dg, n, dh); err != nil {
			return err
		}
		if err := m.linearBack(al, &l.FFNUp, pairs[TargetUp], gpairs[TargetUp], ad, h, lt.lora[TargetUp], du, n, dh); err != nil {
			return err
		}
		if err := m.perRow(n, func(t int) {
			rmsNormBack(dx[t*H:(t+1)*H], lt.x2[t*H:(t+1)*H], l.FFNNorm, lt.r2[t], dh[t*H:(t+1)*H])
		}); err != nil {
			return err
		}
		// attention: x2 = x + out(attn(rope(q), rope(k), v))
		clear(datt)
		if err := m.linearBack(al, &l.Out, pairs[TargetOut], gpairs[TargetOut], ad, lt.att, lt.lora[TargetOut], dx, n, datt); err != nil {
			return err
		}
		if err := m.attendBack(lt, lay, n, datt, dq, dk, dv, dkh, dvh); err != nil {
			return err
		}
		if err := m.perRow(n, func(t int) {
			dqt, dkt := dq[t*qDim:(t+1)*qDim], dk[t*kvDim:(t+1)*kvDim]
			rope(tp.rope, dqt, lay.pos[t], cfg.Heads, d, true)
			rope(tp.rope, dkt, lay.pos[t], cfg.KVHeads, d, true)
			if cfg.Family.QKNorm {
				nqt, nkt := nq[t*qDim:(t+1)*qDim], nk[t*kvDim:(t+1)*kvDim]
				copy(nqt, dqt)
				copy(nkt, dkt)
				clear(dqt)
				clear(dkt)
				for i := t * cfg.Heads; i < (t+1)*cfg.Heads; i++ {
					rmsNormBack(dq[i*d:(i+1)*d], lt.qPre[i*d:(i+1)*d], l.QNorm, lt.rq[i], nq[i*d:(i+1)*d])
				}
				for i := t * cfg.KVHeads; i < (t+1)*cfg.KVHeads; i++ {
					rmsNormBack(dk[i*d:(i+1)*d], lt.kPre[i*d:(i+1)*d], l.KNorm, lt.rk[i], nk[i*d:(i+1)*d])
				}
			}
			rmsNorm(h[t*H:(t+1)*H], lt.x[t*H:(t+1)*H], l.AttnNorm, cfg.Eps)
		}); err != nil {
			return err
		}
		// the first block's input is the frozen embedding: its gradient
		// is not wanted, only the side paths' gradients
		dhIn := dh
		if li == 0 {
			dhIn = nil
		}
		clear(dh)
		for _, p := range []struct {
			t  Target
			w  *arch.Matrix
			dy []float32
		}{{TargetQ, &l.Q, dq}, {TargetK, &l.K, dk}, {TargetV, &l.V, dv}} {
			if err := m.linearBack(al, p.w, pairs[p.t], gpairs[p.t], ad, h, lt.lora[p.t], p.dy, n, dhIn); err != nil {
				return err
			}
		}
		if li > 0 {
			if err := m.perRow(n, func(t int) {
				rmsNormBack(dx[t*H:(t+1)*H], lt.x[t*H:(t+1)*H], l.AttnNorm, lt.r1[t], dh[t*H:(t+1)*H])
			}); err != nil {
				return err
			}
		}

		tp.layers[li] = layerTape{} // done with: the collector may have it
	}
	return nil
}

// attendBack computes the gradients of the block's attention with respect
// to its queries (dq) and keys and values (dk, dv) given datt; dkh and
// dvh are per-head scratch (Heads×n×HeadDim).
func (m *Model) attendBack(lt *layerTape, lay *layout, n int, datt, dq, dk, dv, dkh, dvh []float32) error {
	c := &m.Config
	d, qDim, kvDim := c.HeadDim, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	scale := float32(1 / sqrt64(float64(d)))
	group := c.Heads / c.KVHeads
	clear(dq)
	clear(dkh)
	clear(dvh)
	if blockedAttention(d) {
		for w := range m.threads {
			m.attnScratch(w, n, d, true)
		}
		if err := m.pool.Parallel(m.threads, 1, func(w int) {
			s := m.attnBufs[w]
			for h := w; h < c.Heads; h += m.threads {
				g := h / group
				attendHeadBackBlocked(s, headView[float32]{dq, qDim, h * d}, headView[float32]{dkh[h*n*d:], d, 0}, headView[float32]{dvh[h*n*d:], d, 0},
					headView[float32]{lt.q, qDim, h * d}, headView[float32]{lt.k, kvDim, g * d}, headView[float32]{lt.v, kvDim, g * d},
					headView[float32]{lt.att, qDim, h * d}, headView[float32]{datt, qDim, h * d}, lt.lse[h*n:(h+1)*n], lay.g0, lay.g1, scale)
			}
		}); err != nil {
			return err
		}
	} else if err := m.pool.Parallel(c.Heads, 1, func(h int) {
		g := h / group
		scores := make([]float32, n)
		attendHeadBack(headView[float32]{dq, qDim, h * d}, headView[float32]{dkh[h*n*d:], d, 0}, headView[float32]{dvh[h*n*d:], d, 0},
			headView[float32]{lt.q, qDim, h * d}, headView[float32]{lt.k, kvDim, g * d}, headView[float32]{lt.v, kvDim, g * d},
			headView[float32]{lt.att, qDim, h * d}, headView[float32]{datt, qDim, h * d}, lt.lse[h*n:(h+1)*n], n, d, scale, lay.g0, lay.g1, scores)
	}); err != nil {
		return err
	}
	return m.perRow(n, func(t int) { // each row's heads in order, as one loop would add them
		clear(dk[t*kvDim : (t+1)*kvDim])
		clear(dv[t*kvDim : (t+1)*kvDim])
		for h := range c.Heads {
			g := h / group
			addTo(dk[t*kvDim+g*d:t*kvDim+(g+1)*d], dkh[h*n*d+t*d:h*n*d+(t+1)*d])
			addTo(dv[t*kvDim+g*d:t*kvDim+(g+1)*d], dvh[h*n*d+t*d:h*n*d+(t+1)*d])
		}
	})
}

// Logits returns the logits of the token following tokens under the
// model with adapter ad (nil: the base).
func (m *Model) Logits(tokens []int, ad *Adapter) ([]float32, error) {
	lay := single(Seq{Tokens: append(append([]int(nil), tokens...), 0), Start: len(tokens)})
	lay.heads = nil // only the last state is wanted
	tp, err := m.forward(lay, ad, true)
	if err != nil {
		return nil, err
	}
	defer m.giveBack(tp)
	c := &m.Config
	t := len(tokens) - 1
	hn := make([]float32, c.Hidden)
	rmsNorm(hn, tp.xf[t*c.Hidden:(t+1)*c.Hidden], m.W.OutputNorm, c.Eps)
	logits := make([]float32, c.Vocab)
	if err := m.matmul(&m.W.Output, hn, 1, logits); err != nil {
		return nil, fmt.Errorf("train: output: %w", err)
	}
	return logits, nil
}
