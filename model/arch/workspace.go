package arch

import (
	"math"

	"github.com/chatloop/chatloop/model/kvcache"
)

// workspace is a Model's working memory for a batch, grown to the largest
// batch seen and reused.
type workspace struct {
	tokens                          int              // capacity in tokens
	x, h, q, k, v, att, o, gate, up [][]float32      // o: attention and FFN outputs; gate: also the FFN activation
	pos                             []int            // position of each token
	cache                           []*kvcache.Cache // cache of each token; cleared after a call
	lora                            []LowRank        // low-rank update of each token (of each logits row in logits); cleared after a call
	ropes                           []rope           // RoPE table of each token's position
	out                             [][]float32      // logits destinations
	mw                              [3]*Matrix       // mul3's arguments to MatMul
	my                              [3][][]float32   //
	one                             [1]Seq           // Forward's batch
	embRow                          []byte           // a packed embedding's row in file layout

	// attention
	layer     int
	scale     float32
	scratches []*scratch
	free      chan *scratch // scratches not in use by a job
	attnFn    func(int)     // m.attendJob, made once
}

func (ws *workspace) init(m *Model) {
	c := &m.Config
	ws.scale = float32(1 / math.Sqrt(float64(c.HeadDim)))
	// Parallel runs at most the pool's workers and its caller at once; a
	// job finding no free scratch waits for one, so this is not a limit on
	// correctness.
	n := m.threads + 1
	ws.free = make(chan *scratch, n)
	for range n {
		s := new(scratch)
		ws.scratches = append(ws.scratches, s)
		ws.free <- s
	}
	ws.attnFn = m.attendJob
}

// rows returns n rows of dim elements in one allocation.
func rows(n, dim int) [][]float32 {
	buf := make([]float32, n*dim)
	r := make([][]float32, n)
	for i := range r {
		r[i] = buf[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return r
}

// grow makes room for n tokens.
func (ws *workspace) grow(m *Model, n int) {
	if n <= ws.tokens {
		return
	}
	c := &m.Config
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	ws.x, ws.h = rows(n, c.Hidden), rows(n, c.Hidden)
	ws.q, ws.k, ws.v, ws.att, ws.o = rows(n, qDim), rows(n, kvDim), rows(n, kvDim), rows(n, qDim), rows(n, c.Hidden)
	ws.gate, ws.up = rows(n, c.FFN), rows(n, c.FFN)
	ws.pos = make([]int, n)
	ws.cache = make([]*kvcache.Cache, n)
	ws.lora = make([]LowRank, n)
	ws.out = make([][]float32, n)
	half := c.RopeDim / 2
	cos, sin := rows(n, half), rows(n, half)
	ws.ropes = make([]rope, n)
	for i := range ws.ropes {
		ws.ropes[i] = rope{dims: c.RopeDim, neox: c.Family.RopeNeox, base: c.RopeBase, scale: c.RopeFreqScale,
			factors: m.W.RopeFreqs, cos: cos[i], sin: sin[i]}
	}
	ws.tokens = n
}

// growScratch makes the attention scratch hold n positions.
func (ws *workspace) growScratch(m *Model, n int) {
	c := &m.Config
	n = (n + kvcache.PageSize - 1) / kvcache.PageSize * kvcache.PageSize
	for _, s := range ws.scratches {
		s.grow(n, c.HeadDim, c.ValueDim)
	}
}

// bytes is the memory the workspace holds.
func (ws *workspace) bytes() int64 {
	var n int64
	for _, r := range [][][]float32{ws.x, ws.h, ws.q, ws.k, ws.v, ws.att, ws.o, ws.gate, ws.up} {
		if len(r) > 0 {
			n += int64(len(r)) * int64(cap(r[0])) * 4
		}
	}
	for _, r := range ws.ropes {
		n += int64(cap(r.cos)+cap(r.sin)) * 4
	}
	for _, s := range ws.scratches {
		n += int64(cap(s.q)+cap(s.scores))*4 + int64(cap(s.acc))*8
	}
	return n
}

// release drops the references to the callers' caches.
func (ws *workspace) release() {
	clear(ws.cache)
	clear(ws.lora)
}
