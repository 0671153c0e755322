//go:build unix

package ggml

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
)

// processCPU is the CPU time (user and system) this process has used, in
// nanoseconds. On a shared machine it measures a kernel's cost far more
// steadily than the wall clock.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMatKernel32 times Pool.MatMul for the 32-element block types on
// the matrix shapes of Qwen2.5-0.5B (rows×cols: q/o 896×896, k/v 128×896,
// gate/up 4864×896, down 896×4864) with 1 (token generation), 4 (batched
// decoding), 16 and 256 (prompt processing) activations, per path:
// "row" is the row kernel one row and activation at a time (the fast
// path off), "rows" the eight-row tile kernel, "acts" the 16-activation
// lane kernel, "auto" the default choice between them. It reports weight
// bytes per second (SetBytes, once per call whatever the batch), GFLOP/s
// (2·rows·cols·activations per call), and the process's CPU time per call
// (cpu-ns/op) with the GFLOP per CPU-second it implies, which other load on
// the machine disturbs much less than the wall-clock figures. 65536×896
// (57 MiB at Q8_0) does not fit in the caches: it shows the streaming of
// weights from memory, as for the output matrix (151936×896).
func BenchmarkMatKernel32(b *testing.B) {
	shapes := []struct{ rows, cols int }{{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {65536, 896}}
	paths := []m32Path{{"row", newKernels(min(cpuFeatures.matLevel(), levelAVX2), false, false, false)}}
	for _, p := range m32Paths() {
		switch p.name {
		case "rows", "acts", "avx2":
			paths = append(paths, p)
		case "default":
			paths = append(paths, m32Path{"auto", p.ks})
		}
	}
	for _, typ := range m32Types {
		for _, s := range shapes {
			var w []byte
			for _, nact := range []int{1, 4, 16, 256} {
				var xs []*Activation
				var ys [][]float32
				for _, threads := range []int{1, 2} {
					for _, pt := range paths {
						name := fmt.Sprintf("%s/%dx%d/T=%d/threads=%d/%s", typ, s.rows, s.cols, nact, threads, pt.name)
						b.Run(name, func(b *testing.B) {
							if w == nil { // built on first use, so filtered runs skip it
								rng := rand.New(rand.NewPCG(uint64(s.rows), uint64(s.cols)))
								w, _ = Quantize(typ, randFloats(rng, s.rows*s.cols, 0.05))
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
							p := NewPoolWith(threads, pt.ks)
							defer p.Close()
							if err := p.MatMul(typ, w, s.rows, s.cols, xs, ys); err != nil {
								b.Fatal(err)
							}
							b.SetBytes(int64(len(w)))
							b.ReportAllocs()
							b.ResetTimer()
							cpu0 := processCPU()
							for b.Loop() {
								if err := p.MatMul(typ, w, s.rows, s.cols, xs, ys); err != nil {
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
