package arch

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/kvcache"
)

// randomCache fills n positions of a one-layer cache with normal keys
// and values and returns it with the same keys and values by row.
func randomCache(t testing.TB, r *rand.Rand, kvDim, n int) (c *kvcache.Cache, keys, values []uint16) {
	c, err := kvcache.New(1, kvDim, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Reserve(n); err != nil {
		t.Fatal(err)
	}
	k, v := make([]float32, kvDim), make([]float32, kvDim)
	toks := make([]int, n)
	for p := range n {
		for d := range k {
			k[d], v[d] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		c.Put(0, p, k, v)
		for d := range k {
			keys = append(keys, kvcache.FromFloat32(k[d]))
			values = append(values, kvcache.FromFloat32(v[d]))
		}
	}
	if err := c.Commit(toks...); err != nil {
		t.Fatal(err)
	}
	return c, keys, values
}

func TestAttentionAgainstFormula(t *testing.T) {
	const dim, n, kvHeads = 32, 9, 2
	kvDim := dim * kvHeads
	r := rand.New(rand.NewPCG(3, 4))
	c, keys, values := randomCache(t, r, kvDim, n)
	q := make([]float32, dim)
	for i := range q {
		q[i] = float32(r.NormFloat64())
	}
	scale := float32(1 / math.Sqrt(dim))
	out := make([]float32, dim)
	var sc scratch
	sc.grow(n, dim, dim)
	attention(ggml.BestKernels(), out, q, c, 0, n, dim, scale, &sc)
	// Plain float64 softmax attention over the second KV head.
	s := make([]float64, n)
	var sum float64
	for j := range n {
		for d := range dim {
			s[j] += float64(q[d]) * float64(kvcache.ToFloat32(keys[j*kvDim+dim+d]))
		}
		s[j] = math.Exp(s[j] * float64(scale))
		sum += s[j]
	}
	for d := range dim {
		var want float64
		for j := range n {
			want += s[j] / sum * float64(kvcache.ToFloat32(values[j*kvDim+dim+d]))
		}
		// F16 rounding of q and of the probabilities: ~1e-3 relative.
		if math.Abs(float64(out[d])-want) > 3e-3 {
			t.Errorf("dim %d: got %v, want %v", d, out[d], want)
		}
	}
}

// attentionRows is the attention of the engine before the cache had pages
// (the arithmetic checked against llama.cpp by the golden tests), over keys
// and values stored by row; attention must match it bit for bit.
func attentionRows(out, q []float32, keys, values []uint16, n, kvDim, off int, scale float32) {
	dim := len(q)
	qh, scores, acc := make([]float32, dim), make([]float32, n), make([]float64, len(out))
	for i, v := range q {
		qh[i] = ggml.FP16ToFP32(kvcache.FromFloat32(v))
	}
	maxS := float32(math.Inf(-1))
	for j := range n {
		k := keys[j*kvDim+off : j*kvDim+off+dim]
		var s float64
		for d, kv := range k {
			s += float64(qh[d] * ggml.FP16ToFP32(kv))
		}
		v := float32(s) * scale
		scores[j] = v
		maxS = max(maxS, v)
	}
	// ggml_vec_soft_max_f32 (SSE2, the portable x86-64 build) adds each
	// group of four exponentials in float32, (e0+e1)+(e2+e3), and then the
	// group's sum to a float64. Its rows are the cache's padded length (a
	// multiple of 4) and the masked positions add zeros.
	var sum float64
	for j0 := 0; j0 < n; j0 += 4 {
		var g [4]float32
		for l := range min(4, n-j0) {
			e := expf(scores[j0+l] - maxS)
			scores[j0+l] = e
			g[l] = e
		}
		sum += float64((g[0] + g[1]) + (g[2] + g[3]))
	}
	inv := float32(1 / sum)
	for j := range n {
		scores[j] = ggml.FP16ToFP32(kvcache.FromFloat32(scores[j] * inv))
	}
	for j, p := range scores {
		if p == 0 {
			continue
		}
		v := values[j*kvDim+off : j*kvDim+off+len(out)]
		for d, vv := range v {
			acc[d] += float64(p * ggml.FP16ToFP32(vv))
		}
	}
	for d := range out {
		out[d] = float32(acc[d])
	}
}

// TestAttentionPagesMatchRows checks the paged attention against the
// row-wise one bit for bit, for lengths inside one page and across pages,
// head sizes the vector kernels handle in whole and in part, and queries
// large enough that many probabilities round to zero.
func TestAttentionPagesMatchRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ dim, kvHeads, n int }{
		{64, 2, 1}, {64, 2, 7}, {64, 1, 256}, {128, 2, 300}, {80, 3, 517}, {8, 2, 40}, {96, 1, 1000},
	} {
		kvDim := tc.dim * tc.kvHeads
		c, keys, values := randomCache(t, r, kvDim, tc.n)
		var sc scratch
		sc.grow((tc.n+kvcache.PageSize-1)/kvcache.PageSize*kvcache.PageSize, tc.dim, tc.dim)
		for _, qScale := range []float64{1, 8} {
			q := make([]float32, tc.dim)
			for i := range q {
				q[i] = float32(r.NormFloat64() * qScale)
			}
			scale := float32(1 / math.Sqrt(float64(tc.dim)))
			for h := range tc.kvHeads {
				got, want := make([]float32, tc.dim), make([]float32, tc.dim)
				attention(ggml.BestKernels(), got, q, c, 0, tc.n, h*tc.dim, scale, &sc)
				attentionRows(want, q, keys, values, tc.n, kvDim, h*tc.dim, scale)
				for d := range got {
					if math.Float32bits(got[d]) != math.Float32bits(want[d]) {
						t.Fatalf("dim %d, %d positions, head %d, q×%v: element %d is %v, want %v", tc.dim, tc.n, h, qScale, d, got[d], want[d])
					}
				}
			}
		}
	}
}
