package arch

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
)

// poolKernels runs the products on a ggml.Pool, as the engine does.
type poolKernels struct {
	pool  *ggml.Pool
	batch ggml.Batch
}

func (k *poolKernels) MatMul(ws []*Matrix, xs [][]float32, ys [][][]float32) error {
	k.batch.Reset(xs)
	for j, w := range ws {
		acts, err := k.batch.For(w.Type)
		if err != nil {
			return err
		}
		// ggml.Batch.For returns its whole buffer when the type was
		// already prepared; only the first len(xs) are this batch's.
		if err := k.pool.MatMul(w.Type, w.Data, w.Rows, w.Cols, acts[:len(xs)], ys[j]); err != nil {
			return err
		}
	}
	return nil
}

func (k *poolKernels) Dequantize(t ggml.Type, src []byte, dst []float32) error {
	return ggml.Dequantize(t, src, dst)
}

func (k *poolKernels) Parallel(n, chunk int, fn func(i int)) error {
	return k.pool.Parallel(n, chunk, fn)
}

func (k *poolKernels) Set() *ggml.Kernels { return k.pool.Kernels() }

// quantModel is a random model of typ weights with the proportions of a
// small chat model (head size 64, 4 query heads per KV head), on a pool of
// threads workers.
func quantModel(tb testing.TB, typ ggml.Type, layers, hidden, ffn, vocab, threads int) *Model {
	tb.Helper()
	fam, _ := Lookup("qwen2")
	heads := hidden / 64
	cfg := Config{Arch: "qwen2", Family: fam, Layers: layers, Hidden: hidden, Heads: heads, KVHeads: max(heads/4, 1), HeadDim: 64, ValueDim: 64,
		FFN: ffn, Vocab: vocab, ContextLength: 4096, Eps: 1e-6, RopeBase: 1e6, RopeDim: 64, RopeFreqScale: 1}
	r := rand.New(rand.NewPCG(uint64(layers), 99))
	mat := func(rows, cols int) Matrix {
		f := make([]float32, rows*cols)
		for i := range f {
			f[i] = float32(r.NormFloat64() * 0.05)
		}
		b, err := ggml.Quantize(typ, f)
		if err != nil {
			tb.Fatal(err)
		}
		return Matrix{Type: typ, Data: b, Rows: rows, Cols: cols}
	}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	kvDim := cfg.KVHeads * 64
	w := Weights{Embedding: mat(vocab, hidden), OutputNorm: ones(hidden)}
	w.Output = w.Embedding
	for range layers {
		w.Layers = append(w.Layers, Layer{AttnNorm: ones(hidden), FFNNorm: ones(hidden),
			Q: mat(hidden, hidden), K: mat(kvDim, hidden), V: mat(kvDim, hidden), Out: mat(hidden, hidden),
			FFNGate: mat(ffn, hidden), FFNUp: mat(ffn, hidden), FFNDown: mat(hidden, ffn)})
	}
	pool := ggml.NewPool(threads)
	tb.Cleanup(pool.Close)
	m, err := New(cfg, w, &poolKernels{pool: pool}, threads)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestForwardBatchOnPool runs batched and separate forward passes on a real
// worker pool (run it with -race): attention jobs share the workspace.
func TestForwardBatchOnPool(t *testing.T) {
	m := quantModel(t, ggml.Q8_0, 2, 256, 512, 300, 3)
	var batch, alone [3]Seq
	for i := range batch {
		toks := make([]int, 1+i*3)
		for j := range toks {
			toks[j] = (i*31 + j*7) % m.Config.Vocab
		}
		batch[i] = Seq{Tokens: toks, Cache: prefilled(t, m, 600, 5+100*i, i), Logits: make([]float32, m.Config.Vocab)}
		alone[i] = Seq{Tokens: toks, Cache: prefilled(t, m, 600, 5+100*i, i), Logits: make([]float32, m.Config.Vocab)}
	}
	if err := m.ForwardBatch(batch[:]); err != nil {
		t.Fatal(err)
	}
	for i := range alone {
		if err := m.ForwardBatch(alone[i : i+1]); err != nil {
			t.Fatal(err)
		}
		for j := range alone[i].Logits {
			if batch[i].Logits[j] != alone[i].Logits[j] {
				t.Fatalf("sequence %d logit %d: batched %v, alone %v", i, j, batch[i].Logits[j], alone[i].Logits[j])
			}
		}
		sameCache(t, fmt.Sprint("sequence ", i), batch[i].Cache, alone[i].Cache)
	}
}

// BenchmarkForward measures decode steps (one token per sequence, after
// ctx positions) and a prompt, on a 4-layer Q8_0 model with 512 hidden
// units and 2 threads. tokens/s counts every token of the batch.
func BenchmarkForward(b *testing.B) {
	m := quantModel(b, ggml.Q8_0, 4, 512, 1536, 4096, 2)
	logits := func() []float32 { return make([]float32, m.Config.Vocab) }
	for _, bc := range []struct {
		name           string
		seqs, ctx, len int
	}{
		{"decode/ctx=16", 1, 16, 1},
		{"decode/ctx=1024", 1, 1024, 1},
		{"decode4/ctx=16", 4, 16, 1},
		{"decode4/ctx=1024", 4, 1024, 1},
		{"prompt/len=128", 1, 0, 128},
	} {
		b.Run(bc.name, func(b *testing.B) {
			seqs := make([]Seq, bc.seqs)
			for i := range seqs {
				toks := make([]int, bc.len)
				for j := range toks {
					toks[j] = (i + j*7) % m.Config.Vocab
				}
				seqs[i] = Seq{Tokens: toks, Cache: prefilled(b, m, bc.ctx+bc.len, bc.ctx, i), Logits: logits()}
			}
			b.ReportAllocs()
			for b.Loop() {
				for i := range seqs {
					seqs[i].Cache.Truncate(bc.ctx)
				}
				if err := m.ForwardBatch(seqs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.seqs*bc.len)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkAttention measures one query head over ctx cached positions
// (head size 64), the cost per head and layer of a decode step.
func BenchmarkAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, ctx := range []int{512, 4096} {
		c, _, _ := randomCache(b, r, 128, ctx)
		q := make([]float32, 64)
		for i := range q {
			q[i] = float32(r.NormFloat64())
		}
		out := make([]float32, 64)
		var sc scratch
		sc.grow(ctx, 64, 64)
		b.Run(fmt.Sprint("ctx=", ctx), func(b *testing.B) {
			for b.Loop() {
				attention(ggml.BestKernels(), out, q, c, 0, ctx, 64, 0.125, &sc)
			}
			b.ReportMetric(float64(ctx)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpositions/s")
		})
	}
}
