package train

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// benchPair times DPO training steps on one preference pair of a prompt
// of promptLen tokens and two answers of answerLen tokens (random
// tokens; the two answers share the prompt, as a pair's do), at 2
// threads: s/pair is one training step on the pair (both
// sequences forward and backward) as a run makes it, after its first;
// first-s/pair is the first step, which also pays what a run pays once
// (the arena's pages, the output matrix's Wᵀ, AdamW's moments);
// ref-s/pair the reference pass done once per pair, and peak-RSS-MiB the
// process's peak resident memory after loading (the file's pages
// included as they are touched), over all of them.
func benchPair(b *testing.B, path string, promptLen, answerLen int) {
	m := open(b, path, 2)
	r := rand.New(rand.NewPCG(1, 1))
	prompt := make([]int, promptLen)
	for i := range prompt {
		prompt[i] = r.IntN(m.Config.Vocab)
	}
	seq := func() Seq { // the prompt, then an answer of its own
		toks := append(make([]int, 0, promptLen+answerLen), prompt...)
		for range answerLen {
			toks = append(toks, r.IntN(m.Config.Vocab))
		}
		return Seq{Tokens: toks, Start: promptLen}
	}
	p := &Preference{Chosen: seq(), Rejected: seq()}
	resetPeakRSS()
	t0 := time.Now()
	if err := m.Reference(p); err != nil {
		b.Fatal(err)
	}
	ref := time.Since(t0)
	ad, err := NewAdapter(&m.Config, AllTargets, 8, 16, r)
	if err != nil {
		b.Fatal(err)
	}
	grad := ad.Zero()
	opt := NewAdamW(ad, 1e-4)
	step := func() {
		if _, err := m.Step(p, ad, grad, LossSigmoid, 0.1, 1); err != nil {
			b.Fatal(err)
		}
		opt.Step(ad, grad, 1e-4)
	}
	t0 = time.Now()
	step()
	first := time.Since(t0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pair")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/pair")
	b.ReportMetric(first.Seconds(), "first-s/pair")
	b.ReportMetric(ref.Seconds(), "ref-s/pair")
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
	}
	if hwm := peakRSS(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	}
}

// BenchmarkDPOPairTiny runs benchPair on the tiny models (2 layers,
// hidden 64 or 256, the real 151936-token vocabulary).
func BenchmarkDPOPairTiny(b *testing.B) {
	for _, t := range []ggml.Type{ggml.Q8_0, ggml.F16} {
		b.Run(t.String(), func(b *testing.B) {
			benchPair(b, testmodel.Write(b, testmodel.Tiny("qwen2", t, 1)), 32, 64)
		})
	}
}

// BenchmarkDPOPairQwen25_05B runs benchPair on files of Qwen2.5-0.5B's
// shape (random weights) with a 128-token prompt and two 256-token
// answers. It needs the files, which take a while to write:
//
//	go run ./scripts/reference/engine-genmodel -shape qwen2.5-0.5b -type Q8_0 -out /tmp/q8.gguf
//	go run ./scripts/reference/engine-genmodel -shape qwen2.5-0.5b -type F16 -out /tmp/f16.gguf
//	TUNE_BENCH_Q8_0=/tmp/q8.gguf TUNE_BENCH_F16=/tmp/f16.gguf go test ./model/train -run X -bench DPOPairQwen -benchtime 1x
func BenchmarkDPOPairQwen25_05B(b *testing.B) {
	ran := false
	for _, t := range []string{"Q8_0", "F16"} {
		path := os.Getenv("TUNE_BENCH_" + t)
		if path == "" {
			continue
		}
		ran = true
		b.Run(t, func(b *testing.B) { benchPair(b, path, 128, 256) })
	}
	if !ran {
		b.Skip("set TUNE_BENCH_Q8_0 and/or TUNE_BENCH_F16 to Qwen2.5-0.5B-shaped files (see the comment)")
	}
}

// resetPeakRSS resets the kernel's peak resident set size of this process
// (Linux; elsewhere nothing happens).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the peak resident set size in bytes (VmHWM), or 0.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
