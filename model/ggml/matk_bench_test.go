//go:build !noasm && amd64

package ggml

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkMatKernelK measures the K-quant matrix products through the
// pool, per weight type, path, shape, number of activations and threads:
// "rows" is the old row kernel (the tiled kernels switched off), the other
// paths are the matrix kernels of kPaths ("avx2_rows" and "avx2_tiles": the
// AVX2 row-pair kernels, or the AVX2 tiles, for every batch). GB/s counts the weight bytes once per call
// (SetBytes), so for a batch it is the rate the matrix is streamed at;
// GFLOP/s counts 2·rows·cols per activation; best-GB/s and best-GFLOP/s
// are the same rates for the fastest single call of the run.
func BenchmarkMatKernelK(b *testing.B) {
	rng := rand.New(rand.NewPCG(21, 22))
	shapes := []struct {
		name       string
		rows, cols int
	}{
		{"896x4864", 896, 4864},   // ffn_down of Qwen2.5-0.5B
		{"4864x1024", 4864, 1024}, // gate/up shape with whole super-blocks
	}
	paths := []string{"rows"}
	for _, p := range kPaths() {
		paths = append(paths, p.name)
	}
	for _, typ := range kTypes {
		for _, sh := range shapes {
			w, err := Quantize(typ, randFloats(rng, sh.rows*sh.cols, 0.05))
			if err != nil {
				b.Fatal(err)
			}
			for _, nact := range []int{1, 4, 16, 256} {
				xs := make([]*Activation, nact)
				ys := make([][]float32, nact)
				for i := range xs {
					xs[i] = &Activation{}
					xs[i].Prepare(randFloats(rng, sh.cols, 1), typ)
					ys[i] = make([]float32, sh.rows)
				}
				for _, path := range paths {
					for _, threads := range []int{1, 2} {
						name := fmt.Sprintf("%s/%s/T=%d/%s/threads=%d", typ, sh.name, nact, path, threads)
						b.Run(name, func(b *testing.B) {
							ks := newKernels(levelAVX2, false, false, false) // "rows"
							for _, p := range kPaths() {
								if p.name == path {
									ks = p.ks
								}
							}
							p := NewPoolWith(threads, ks)
							defer p.Close()
							// one call outside the loop: the scratch buffers are
							// allocated once, not per call
							if err := p.MatMul(typ, w, sh.rows, sh.cols, xs, ys); err != nil {
								b.Fatal(err)
							}
							b.SetBytes(int64(len(w)))
							b.ReportAllocs()
							best := time.Duration(math.MaxInt64)
							for b.Loop() {
								t0 := time.Now()
								if err := p.MatMul(typ, w, sh.rows, sh.cols, xs, ys); err != nil {
									b.Fatal(err)
								}
								best = min(best, time.Since(t0))
							}
							flops := 2 * float64(sh.rows) * float64(sh.cols) * float64(nact)
							b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
							// the fastest single call: on a shared machine the
							// mean mostly measures other processes
							b.ReportMetric(float64(len(w))/best.Seconds()/1e9, "best-GB/s")
							b.ReportMetric(flops/best.Seconds()/1e9, "best-GFLOP/s")
						})
					}
				}
			}
		}
	}
}
