package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/testmodel"
)

// open loads the GGUF file at path for training.
func open(t testing.TB, path string, threads int) *Model {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cfg, w, err := model.ReadWeights(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg, &w, threads)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// TestLogitsMatchEngine runs the same prompt through the engine and the
// training forward pass on the same file, for each architecture and a
// float and a quantized type.
func TestLogitsMatchEngine(t *testing.T) {
	for _, c := range []struct {
		arch string
		typ  ggml.Type
	}{{"qwen2", ggml.F32}, {"qwen3", ggml.F32}, {"llama", ggml.F32}, {"qwen2", ggml.Q8_0}, {"qwen2", ggml.F16}, {"qwen3", ggml.BF16}, {"llama", ggml.Q4_K}} {
		t.Run(c.arch+"-"+c.typ.String(), func(t *testing.T) {
			path := testmodel.Write(t, testmodel.Tiny(c.arch, c.typ, 7))
			e, err := model.Load(path, model.Options{Threads: 2, Repack: model.RepackOff})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			prompt := e.Tokenize("The quick brown fox jumps over the lazy dog, again and again.")
			want, err := e.Logits(prompt)
			if err != nil {
				t.Fatal(err)
			}
			m := open(t, path, 2)
			ids := make([]int, len(prompt))
			for i, p := range prompt {
				ids[i] = int(p)
			}
			got, err := m.Logits(ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			var maxDiff, maxAbs float64
			for i := range want {
				maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
				maxAbs = max(maxAbs, math.Abs(float64(want[i])))
			}
			t.Logf("%d tokens: max |logit difference| %.3g (max |logit| %.3g)", len(ids), maxDiff, maxAbs)
			// F32 differs by rounding only (the engine keeps keys, values
			// and attention weights in F16); the other types' engine kernels
			// round each activation to the dot-product type (8-bit blocks,
			// BF16, F16), which moves random-weight logits by up to a few
			// percent.
			tol := 2e-3
			if c.typ != ggml.F32 {
				tol = 3e-2
			}
			if maxDiff > tol*max(1, maxAbs) {
				t.Errorf("max |logit difference| %.3g, want ≤ %.3g", maxDiff, tol*max(1, maxAbs))
			}
			if rank(got, argmax(want)) > 3 {
				t.Errorf("the engine's greedy token %d ranks %d here", argmax(want), rank(got, argmax(want)))
			}
		})
	}
}

// rank is how many elements of v exceed v[i].
func rank(v []float32, i int) int {
	n := 0
	for _, x := range v {
		if x > v[i] {
			n++
		}
	}
	return n
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestMatmulBackward checks the transposed product of each type against
// the gradient of y = W·x with W decoded whole (in float64): for a linear
// map the finite differences are exactly that product.
func TestMatmulBackward(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, c := range []struct {
		typ  ggml.Type
		rows int
	}{{ggml.F32, 40}, {ggml.F16, 40}, {ggml.BF16, 40}, {ggml.Q8_0, 40}, {ggml.Q8_0, 96}, {ggml.Q4_0, 64}, {ggml.Q4_K, 96}, {ggml.Q6_K, 64}} {
		typ, rows, cols, n := c.typ, c.rows, 256, 7
		w32 := randVec32(r, rows*cols, 0, 0.1)
		data, err := ggml.Quantize(typ, w32)
		if err != nil {
			t.Fatal(err)
		}
		w := &arch.Matrix{Type: typ, Data: data, Rows: rows, Cols: cols}
		dec := make([]float32, rows*cols)
		if err := ggml.Dequantize(typ, data, dec); err != nil {
			t.Fatal(err)
		}
		m := &Model{threads: 2, pool: ggml.NewPool(2)}
		dy := randVec32(r, n*rows, 0, 1)
		dx := make([]float32, n*cols)
		if err := m.matmulBack(w, dy, n, dx); err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for tk := range n {
			for c := range cols {
				var want float64
				for rr := range rows {
					want += float64(dy[tk*rows+rr]) * float64(dec[rr*cols+c])
				}
				worst = max(worst, math.Abs(float64(dx[tk*cols+c])-want))
			}
		}
		if worst > 1e-5 {
			t.Errorf("%s: max |dx − dyᵀW| = %.3g", typ, worst)
		}
		if useQ8Back(w) {
			// through Wᵀ and dY in Q8_0: 8-bit rounding of both
			m.q8Back = true
			dq := make([]float32, n*cols)
			if err := m.matmulBack(w, dy, n, dq); err != nil {
				t.Fatal(err)
			}
			m.q8Back = false
			var num, den float64
			for i := range dq {
				num += float64(dq[i]-dx[i]) * float64(dq[i]-dx[i])
				den += float64(dx[i]) * float64(dx[i])
			}
			rel := math.Sqrt(num / den)
			t.Logf("%s: Q8_0 transposed product, relative error %.3g", typ, rel)
			if rel > 2e-2 {
				t.Errorf("%s: Q8_0 transposed product, relative error %.3g", typ, rel)
			}
		}
		// the forward product against the same decoded matrix
		x := randVec32(r, n*cols, 0, 1)
		y := make([]float32, n*rows)
		if err := m.matmul(w, x, n, y); err != nil {
			t.Fatal(err)
		}
		worstY := 0.0
		for tk := range n {
			for rr := range rows {
				var want float64
				for c := range cols {
					want += float64(x[tk*cols+c]) * float64(dec[rr*cols+c])
				}
				worstY = max(worstY, math.Abs(float64(y[tk*rows+rr])-want)/(1+math.Abs(want)))
			}
		}
		tol := 1e-5
		if !floatType(typ) {
			tol = 5e-2 // the activations are quantized to 8 bits, as in the engine
		}
		if worstY > tol {
			t.Errorf("%s: forward max relative error %.3g", typ, worstY)
		}
		t.Logf("%s: backward max error %.2g, forward %.2g", typ, worst, worstY)
		m.pool.Close()
	}
}

// TestAdapterGradient checks the whole LoRA gradient of a sequence's
// log-probability on a tiny F32 model against central finite differences
// of the float32 forward pass at a sample of coordinates (the PyTorch
// script in scripts/tune-reference checks every coordinate in float64).
func TestAdapterGradient(t *testing.T) {
	for _, archName := range []string{"qwen2", "qwen3", "llama"} {
		t.Run(archName, func(t *testing.T) {
			m := open(t, testmodel.Write(t, testmodel.Tiny(archName, ggml.F32, 3)), 2)
			r := rand.New(rand.NewPCG(1, 2))
			ad, err := NewAdapter(&m.Config, AllTargets, 4, 8, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ad.Params() { // B random too, so that A's gradient is not zero
				for i := range p {
					p[i] = float32(r.NormFloat64() * 0.05)
				}
			}
			seq := Seq{Tokens: []int{9707, 11, 1879, 0, 358, 1079, 264, 1273, 13, 198}, Start: 5}
			tp, err := m.Forward(seq, ad)
			if err != nil {
				t.Fatal(err)
			}
			grad := ad.Zero()
			if err := m.Backward(tp, ad, grad, 1); err != nil {
				t.Fatal(err)
			}
			ps, gs := ad.Params(), grad.Params()
			// The forward pass is float32: with h = 1e-2 its rounding
			// moved some differences by 1e-3 (2 % of the floor below),
			// while the truncation error at 2e-2 stays under 1 %.
			const h = 2e-2
			checked, worst := 0, 0.0
			for k := 0; k < 20; k++ {
				pi := r.IntN(len(ps))
				i := r.IntN(len(ps[pi]))
				old := ps[pi][i]
				ps[pi][i] = old + h
				lp, err := m.LogProb(seq, ad)
				if err != nil {
					t.Fatal(err)
				}
				ps[pi][i] = old - h
				lm, _ := m.LogProb(seq, ad)
				ps[pi][i] = old
				fd := (lp - lm) / (2 * h)
				g := float64(gs[pi][i])
				e := math.Abs(fd-g) / max(0.05, math.Abs(fd))
				worst = max(worst, e)
				checked++
				if e > 2e-2 {
					t.Errorf("param %d[%d]: gradient %.6g, finite differences %.6g", pi, i, g, fd)
				}
			}
			t.Logf("%d coordinates, worst relative error %.3g", checked, worst)
		})
	}
}
