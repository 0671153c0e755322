package ggml

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMatVec measures a 4864×896 matrix-vector product (the FFN
// gate/up shape of Qwen2.5-0.5B; 4864×1024 for the K-quants, whose rows must
// be whole 256-element super-blocks) per type and thread count, including
// the activation's conversion. The throughput is weight bytes per second.
// scripts/reference/ggml-bench.c times ggml's own mul_mat on the same
// shapes.
func BenchmarkMatVec(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, typ := range kernelTypes {
		rows, cols := 4864, 896
		if typ.BlockSize() == QK_K {
			cols = 1024
		}
		var w []byte
		x := randFloats(rng, cols, 1)
		y := make([]float32, rows)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", typ, threads), func(b *testing.B) {
				if w == nil { // quantized on first use, so filtered runs skip it
					var err error
					if w, err = Quantize(typ, randFloats(rng, rows*cols, 0.05)); err != nil {
						b.Fatal(err)
					}
				}
				p := NewPool(threads)
				defer p.Close()
				var a Activation
				b.SetBytes(int64(len(w)))
				b.ReportAllocs()
				for b.Loop() {
					a.Prepare(x, typ)
					if err := p.MatVec(typ, w, rows, cols, &a, y); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMatMul is prompt processing: a batch of 16 activations per
// weight load.
func BenchmarkMatMul(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	const batch = 16
	for _, typ := range []Type{Q8_0, Q4_K, Q6_K} {
		rows, cols := 4864, 1024
		w, _ := Quantize(typ, randFloats(rng, rows*cols, 0.05))
		xs := make([]*Activation, batch)
		ys := make([][]float32, batch)
		for i := range xs {
			xs[i] = &Activation{}
			xs[i].Prepare(randFloats(rng, cols, 1), typ)
			ys[i] = make([]float32, rows)
		}
		b.Run(fmt.Sprintf("%s/batch=%d/threads=2", typ, batch), func(b *testing.B) {
			p := NewPool(2)
			defer p.Close()
			b.SetBytes(int64(len(w)) * batch)
			for b.Loop() {
				if err := p.MatMul(typ, w, rows, cols, xs, ys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPrepare(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := randFloats(rng, 4864, 1)
	for _, typ := range []Type{Q8_0, Q4_1, Q4_K, F16} {
		b.Run(typ.String(), func(b *testing.B) {
			var a Activation
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				a.Prepare(x, typ)
			}
		})
	}
}
