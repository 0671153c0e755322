//go:build unix

package ggml

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkPacked32 times Pool.MatMulPacked on packed Q8_0, Q4_0 and Q5_0
// matrices against Pool.MatMul (today's kernels, "mat") on the same
// matrix, in the same run, for the shapes of Qwen2.5-0.5B (q/o 896×896,
// k/v 128×896, gate/up 4864×896, down 896×4864, and the output matrix
// 151936×896, which streams from memory) and 1 (token generation), 4
// (batched decoding), 64 and 512 (prompt processing) activations. Metrics
// as BenchmarkMatKernel32: weight bytes per second, GFLOP/s, and CPU time
// per call with the GFLOP per CPU-second it implies.
func BenchmarkPacked32(b *testing.B) {
	shapes := []struct{ rows, cols int }{{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {151936, 896}}
	for _, typ := range []Type{Q8_0, Q4_0, Q5_0} {
		if packingOf(typ) == nil {
			b.Skipf("no packed layout for %s on this CPU and build", typ)
		}
		for _, s := range shapes {
			var w, packed []byte
			for _, nact := range []int{1, 4, 64, 512} {
				var xs []*Activation
				var ys [][]float32
				for _, threads := range []int{1, 2} {
					for _, path := range []string{"mat", "packed"} {
						name := fmt.Sprintf("%s/%dx%d/T=%d/threads=%d/%s", typ, s.rows, s.cols, nact, threads, path)
						b.Run(name, func(b *testing.B) {
							if w == nil { // built on first use, so filtered runs skip it
								w = benchMatrix(typ, s.rows, s.cols)
								packed = make([]byte, len(w))
								if err := Pack(typ, packed, w, s.rows, s.cols); err != nil {
									b.Fatal(err)
								}
							}
							if xs == nil {
								rng := rand.New(rand.NewPCG(uint64(nact), 7))
								for i := 0; i < nact; i++ {
									a := &Activation{}
									a.Prepare(randFloats(rng, s.cols, 1), typ)
									xs = append(xs, a)
									ys = append(ys, make([]float32, s.rows))
								}
							}
							p := NewPool(threads)
							defer p.Close()
							run := func() error { return p.MatMul(typ, w, s.rows, s.cols, xs, ys) }
							if path == "packed" {
								run = func() error { return p.MatMulPacked(typ, packed, s.rows, s.cols, xs, ys) }
							}
							if err := run(); err != nil {
								b.Fatal(err)
							}
							b.SetBytes(int64(len(w)))
							b.ReportAllocs()
							b.ResetTimer()
							cpu0 := processCPU()
							for b.Loop() {
								if err := run(); err != nil {
									b.Fatal(err)
								}
							}
							cpu := (processCPU() - cpu0) / float64(b.N)
							sec := b.Elapsed().Seconds() / float64(b.N)
							flop := 2 * float64(s.rows*s.cols*nact)
							b.ReportMetric(flop/sec/1e9, "GFLOP/s")
							b.ReportMetric(cpu, "cpu-ns/op")
							b.ReportMetric(flop/cpu, "GFLOP/cpu-s")
						})
					}
				}
			}
		}
	}
}

// benchMatrix is a rows×cols matrix of typ: Gaussian values quantized, at
// most 4096 rows of them, repeated to fill the rest (quantizing the whole
// output matrix would take longer than the benchmark).
func benchMatrix(typ Type, rows, cols int) []byte {
	rng := rand.New(rand.NewPCG(uint64(rows), uint64(cols)))
	n := min(rows, 4096)
	tile, _ := Quantize(typ, randFloats(rng, n*cols, 0.05))
	w := make([]byte, len(tile)/n*rows)
	for off := 0; off < len(w); off += len(tile) {
		copy(w[off:], tile)
	}
	return w
}

// BenchmarkPack32 measures packing (the load-time cost: bytes of matrix
// per second) and PackedRow (an embedding row read back).
func BenchmarkPack32(b *testing.B) {
	for _, typ := range []Type{Q8_0, Q4_0, Q5_0} {
		if packingOf(typ) == nil {
			b.Skipf("no packed layout for %s on this CPU and build", typ)
		}
		const rows, cols = 256, 896
		w := benchMatrix(typ, rows, cols)
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
