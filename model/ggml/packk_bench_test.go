//go:build !noasm && amd64

package ggml

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// benchKMatrix makes a rows×cols matrix of typ: 256 quantized rows of
// Gaussian values, repeated (quantizing the whole output matrix would take
// longer than the benchmark).
func benchKMatrix(b *testing.B, rng *rand.Rand, typ Type, rows, cols int) []byte {
	base := min(rows, 256)
	w0, err := Quantize(typ, randFloats(rng, base*cols, 0.05))
	if err != nil {
		b.Fatal(err)
	}
	w := make([]byte, 0, len(w0)*((rows+base-1)/base))
	for len(w) < len(w0)/base*rows {
		w = append(w, w0...)
	}
	return w[:len(w0)/base*rows]
}

// BenchmarkPackedK compares the packed K-quant kernels ("packed",
// MatMulPacked on the packed matrix) with today's kernels on the file
// layout ("tiles", MatMul: the row-pair kernel for one activation, the
// unpacked tiles for more) in the same run, per type, shape, number of
// activations (T) and threads. GB/s counts the weight bytes once per call;
// GFLOP/s counts 2·rows·cols per activation; best-* are the same rates for
// the fastest single call.
func BenchmarkPackedK(b *testing.B) {
	if packingOf(Q4_K) == nil || packingOf(Q5_K) == nil || packingOf(Q6_K) == nil {
		b.Skip("no packed K-quant layout on this CPU")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	cases := []struct {
		typ        Type
		rows, cols int
	}{
		{Q4_K, 896, 4864},  // ffn_down of Qwen2.5-0.5B
		{Q4_K, 1536, 1536}, // attn_q/o of Qwen2.5-1.5B
		{Q4_K, 8960, 1536}, // ffn_gate/up of 1.5B
		{Q4_K, 1536, 8960}, // ffn_down of 1.5B
		{Q5_K, 896, 4864},
		{Q5_K, 1536, 8960},
		{Q6_K, 896, 4864},
		{Q6_K, 1536, 8960},
		{Q6_K, 151936, 1536}, // output of 1.5B
	}
	for _, c := range cases {
		w := benchKMatrix(b, rng, c.typ, c.rows, c.cols)
		packed := make([]byte, len(w))
		if err := Pack(c.typ, packed, w, c.rows, c.cols); err != nil {
			b.Fatal(err)
		}
		for _, nact := range []int{1, 4, 64} {
			xs := make([]*Activation, nact)
			ys := make([][]float32, nact)
			for i := range xs {
				xs[i] = &Activation{}
				xs[i].Prepare(randFloats(rng, c.cols, 1), c.typ)
				ys[i] = make([]float32, c.rows)
			}
			for _, path := range []string{"tiles", "packed"} {
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("%s/%dx%d/T=%d/%s/threads=%d", c.typ, c.rows, c.cols, nact, path, threads)
					b.Run(name, func(b *testing.B) {
						p := NewPool(threads)
						defer p.Close()
						call := func() error { return p.MatMul(c.typ, w, c.rows, c.cols, xs, ys) }
						if path == "packed" {
							call = func() error { return p.MatMulPacked(c.typ, packed, c.rows, c.cols, xs, ys) }
						}
						if err := call(); err != nil { // scratch buffers allocated outside the loop
							b.Fatal(err)
						}
						b.SetBytes(int64(len(w)))
						b.ReportAllocs()
						best := time.Duration(math.MaxInt64)
						for b.Loop() {
							t0 := time.Now()
							if err := call(); err != nil {
								b.Fatal(err)
							}
							best = min(best, time.Since(t0))
						}
						flops := 2 * float64(c.rows) * float64(c.cols) * float64(nact)
						b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
						b.ReportMetric(float64(len(w))/best.Seconds()/1e9, "best-GB/s")
						b.ReportMetric(flops/best.Seconds()/1e9, "best-GFLOP/s")
					})
				}
			}
		}
	}
}

// BenchmarkPackK measures packing (load time) and PackedRow (an embedding
// row of a tied output matrix) per type, on one goroutine.
func BenchmarkPackK(b *testing.B) {
	rng := rand.New(rand.NewPCG(33, 34))
	for _, typ := range []Type{Q4_K, Q5_K, Q6_K} {
		if packingOf(typ) == nil {
			b.Skip("no packed K-quant layout on this CPU")
		}
		const rows, cols = 256, 1536
		w := benchKMatrix(b, rng, typ, rows, cols)
		packed := make([]byte, len(w))
		b.Run(typ.String()+"/pack", func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				if err := Pack(typ, packed, w, rows, cols); err != nil {
					b.Fatal(err)
				}
			}
		})
		row := make([]byte, len(w)/rows)
		b.Run(typ.String()+"/row", func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			for b.Loop() {
				if err := PackedRow(typ, row, packed, rows, cols, 17); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
