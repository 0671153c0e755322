package model

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// benchEngine loads spec (written once per benchmark into a temporary
// directory) with threads threads.
func benchEngine(b *testing.B, spec testmodel.Spec, threads int) *Engine {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.gguf")
	if err := testmodel.WriteFile(path, spec); err != nil {
		b.Fatal(err)
	}
	e, err := Load(path, Options{Threads: threads, Context: 1024})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func benchSpeeds(b *testing.B, e *Engine, pp, tg int) {
	b.ResetTimer()
	var last BenchResult
	for b.Loop() {
		r, err := e.Bench(context.Background(), BenchOptions{Prompt: pp, Gen: tg, Repetitions: 1})
		if err != nil {
			b.Fatal(err)
		}
		last = r
	}
	b.ReportMetric(last.PromptPerSecond, "pp-tok/s")
	b.ReportMetric(last.GenPerSecond, "tg-tok/s")
}

// BenchmarkTiny measures the tiny test models (2 layers; the 151936-row
// output matrix dominates).
func BenchmarkTiny(b *testing.B) {
	for _, t := range []ggml.Type{ggml.F32, ggml.F16, ggml.Q8_0, ggml.Q4_K} {
		b.Run(t.String(), func(b *testing.B) {
			benchSpeeds(b, benchEngine(b, testmodel.Tiny("qwen2", t, 1), 2), 64, 16)
		})
	}
}

// BenchmarkQwen25_05B measures a model of Qwen2.5-0.5B-Instruct's real
// shape (random weights) at 2 threads: pp512 and tg128 as llama-bench
// does. Writing the file takes a while and 0.5–1 GB of temporary disk, so
// it runs only with CHATLOOP_BENCH_REAL=1.
func BenchmarkQwen25_05B(b *testing.B) {
	if os.Getenv("CHATLOOP_BENCH_REAL") == "" {
		b.Skip("set CHATLOOP_BENCH_REAL=1 to write and run the 0.5B-shaped models")
	}
	for _, t := range []ggml.Type{ggml.Q8_0, ggml.F16} {
		b.Run(t.String(), func(b *testing.B) {
			benchSpeeds(b, benchEngine(b, testmodel.Qwen25_05B(t), 2), 512, 128)
		})
	}
}
