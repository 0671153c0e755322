package arch

import (
	"math"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/kvcache"
)

// attention computes one query head against positions [0, n) of layer of
// cache c, the head's slice of each key and value starting at element off,
// as llama.cpp does without flash attention: q rounded to F16, scores in
// float32 (products summed in float64) scaled by scale, softmax with a
// float64 sum, probabilities rounded to F16, values accumulated in float64.
// It walks the cache's pages. sc is scratch space grown to n positions.
// ks's forms of the kernels run it.
func attention(ks *ggml.Kernels, out, q []float32, c *kvcache.Cache, layer, n, off int, scale float32, sc *scratch) {
	dim, kvDim := len(q), c.KVDim()
	qh, scores, acc := sc.q[:dim], sc.scores[:n], sc.acc[:len(out)]
	for i, v := range q { // ggml.FP32ToFP16 equals kvcache.FromFloat32 on every float32
		qh[i] = ggml.FP16ToFP32(ggml.FP32ToFP16(v))
	}
	for p := 0; p*kvcache.PageSize < n; p++ {
		keys, _, stride := c.Page(layer, p)
		lo := p * kvcache.PageSize
		cnt := min(stride, n-lo)
		ks.ScoresF16(scores[lo:lo+cnt], keys[off*stride:], stride, qh, scale)
	}
	maxS := maxOf(scores)
	// ggml_vec_soft_max_f32 (SSE2, the portable x86-64 build) adds each
	// group of four exponentials in float32, (e0+e1)+(e2+e3), and then the
	// group's sum to a float64. Its rows are the cache's padded length (a
	// multiple of 4) and the masked positions add zeros.
	// The exponentials are computed first (in vector lanes where the CPU
	// has them: each is the same expf), the sums then in that order.
	expSubAt(vecOf(ks), scores, maxS)
	var sum float64
	for j0 := 0; j0 < n; j0 += 4 {
		var g [4]float32
		copy(g[:], scores[j0:min(j0+4, n)])
		sum += float64((g[0] + g[1]) + (g[2] + g[3]))
	}
	inv := float32(1 / sum)
	for j, e := range scores {
		scores[j] = ggml.FP16ToFP32(ggml.FP32ToFP16(e * inv))
	}
	clear(acc)
	for p := 0; p*kvcache.PageSize < n; p++ {
		_, values, stride := c.Page(layer, p)
		lo := p * kvcache.PageSize
		cnt := min(stride, n-lo)
		ks.AccumulateF16(acc, values[off:], kvDim, scores[lo:lo+cnt])
	}
	for d := range out {
		out[d] = float32(acc[d])
	}
}

// maxOf is the largest of s, or NaN if one is NaN, in four independent
// chains: max is commutative and associative but for the sign of a zero
// maximum, and x-0 and x+0 have the same exponential.
func maxOf(s []float32) float32 {
	m0, m1, m2, m3 := float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))
	i := 0
	for ; i+4 <= len(s); i += 4 {
		m0, m1, m2, m3 = max(m0, s[i]), max(m1, s[i+1]), max(m2, s[i+2]), max(m3, s[i+3])
	}
	for ; i < len(s); i++ {
		m0 = max(m0, s[i])
	}
	return max(m0, m1, m2, m3)
}

// scratch holds one attention job's working memory.
type scratch struct {
	q, scores []float32
	acc       []float64
}

func (s *scratch) grow(n, dim, vdim int) {
	if cap(s.scores) < n {
		s.scores = make([]float32, n)
	}
	if cap(s.q) < dim {
		s.q = make([]float32, dim)
	}
	if cap(s.acc) < vdim {
		s.acc = make([]float64, vdim)
	}
	s.scores, s.q, s.acc = s.scores[:cap(s.scores)], s.q[:cap(s.q)], s.acc[:cap(s.acc)]
}

// attend runs every query head of the n tokens in the workspace against
// their caches' layer li on the kernels' workers, token i seeing positions
// [0, pos[i]].
func (m *Model) attend(li, n int) error {
	m.ws.layer = li
	return m.k.Parallel(n*m.Config.Heads, 1, m.ws.attnFn)
}

// attendJob is one (token, head) pair of attend; its function value is
// made once, in workspace.init.
func (m *Model) attendJob(job int) {
	c := &m.Config
	ws := &m.ws
	i, h := job/c.Heads, job%c.Heads
	off := (h / (c.Heads / c.KVHeads)) * c.HeadDim
	sc := <-ws.free
	attention(m.ks, ws.att[i][h*c.HeadDim:(h+1)*c.HeadDim], ws.q[i][h*c.HeadDim:(h+1)*c.HeadDim],
		ws.cache[i], ws.layer, ws.pos[i]+1, off, ws.scale, sc)
	ws.free <- sc
}
