package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	Prompt      int // prompt tokens processed in one go (pp)
	Gen         int // tokens generated one at a time (tg)
	Repetitions int
}

// BenchResult holds the medians of Bench's runs.
type BenchResult struct {
	PromptPerSecond float64
	GenPerSecond    float64
	RSSBytes        int64 // resident memory after the runs; 0 if unknown
	Threads         int
}

// Bench measures prompt processing and generation speed the way
// llama-bench's pp and tg tests do: random tokens, an empty cache for each
// run, the median of the repetitions.
func (e *Engine) Bench(ctx context.Context, o BenchOptions) (BenchResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	res := BenchResult{Threads: e.threads}
	if o.Prompt+1 > e.ctxSize || o.Gen+1 > e.ctxSize {
		return res, fmt.Errorf("%w: bench needs %d positions, the context window has %d", ErrContextFull, max(o.Prompt, o.Gen)+1, e.ctxSize)
	}
	r := rand.New(rand.NewPCG(1, 2))
	vocab := e.model.Config.Vocab
	var pps, tgs []float64
	for range max(o.Repetitions, 1) {
		tokens := make([]int, o.Prompt)
		for i := range tokens {
			tokens[i] = r.IntN(vocab)
		}
		e.cache.Truncate(0)
		start := time.Now()
		for n := 0; n < len(tokens); n += promptBatch {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			end := min(n+promptBatch, len(tokens))
			var logits []float32
			if end == len(tokens) {
				logits = e.logits
			}
			if err := e.model.Forward(tokens[n:end], e.cache, logits); err != nil {
				return res, err
			}
		}
		pps = append(pps, float64(o.Prompt)/time.Since(start).Seconds())

		e.cache.Truncate(0)
		tok := r.IntN(vocab)
		start = time.Now()
		for range o.Gen {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if err := e.model.Forward([]int{tok}, e.cache, e.logits); err != nil {
				return res, err
			}
			tok = r.IntN(vocab)
		}
		tgs = append(tgs, float64(o.Gen)/time.Since(start).Seconds())
	}
	e.cache.Truncate(0)
	res.PromptPerSecond, res.GenPerSecond = median(pps), median(tgs)
	res.RSSBytes = residentBytes()
	return res, nil
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// residentBytes reads the process's resident set size on Linux; 0
// elsewhere.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
