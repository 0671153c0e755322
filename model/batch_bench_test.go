package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
	"github.com/chatloop/chatloop/model/tokenizer"
)

// schedBenchModel is the file the scheduler's benchmarks run: BENCH_MODEL
// when set (for real figures, e.g. a Qwen2.5-0.5B-shaped file from
// scripts/reference/engine-genmodel), else a tiny model written for the
// benchmark.
func schedBenchModel(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("BENCH_MODEL"); p != "" {
		return p
	}
	path := filepath.Join(b.TempDir(), "tiny.gguf")
	if err := testmodel.WriteFile(path, testmodel.Tiny("qwen2", ggml.Q8_0, 11)); err != nil {
		b.Fatal(err)
	}
	return path
}

func schedBenchEngine(b *testing.B, path string, opts Options) *Engine {
	b.Helper()
	if opts.Threads == 0 {
		opts.Threads = 2
	}
	opts.Context = 2048
	e, err := Load(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	_, _ = e.FileSHA256() // the background hash must not share the CPUs with the benchmark
	return e
}

// scriptedAnswers are the assistant's turns 1–4 of the scripted
// conversation: natural text, as a real model writes it. (A model with
// random weights answers with runs of odd tokens, such as a hundred
// newlines, which tokenize differently once they are read back as text;
// natural text comes back as the same tokens.)
var scriptedAnswers = []string{
	"Hi! I'm chatloop, a small language model running right here in this group. Ask me anything.",
	"I can answer questions, summarise long threads, translate between Chinese and English, and brainstorm ideas. Give my answers a 👍 or 👎 so I can learn what you like.",
	"你好！我是 chatloop，一个在本地运行的小型语言模型。我可以回答问题、总结讨论、翻译中英文。",
	"So far I introduced myself, listed what I can do for the group (answers, summaries, translation, ideas), and repeated the introduction in Chinese.",
}

// BenchmarkPrefixReuse measures the time to first token of turn 5 of a
// scripted conversation, with the cache the engine kept from turn 4 and
// with the prefix cache off, and reports their ratio (the target is
// ≤ 0.2). The turn-4 cache is made as generating answer 4 leaves it: its
// prompt and the answer's tokens, without the end-of-turn token (which
// is sampled, not fed back).
func BenchmarkPrefixReuse(b *testing.B) {
	path := schedBenchModel(b)
	reuse := schedBenchEngine(b, path, Options{})
	fresh := schedBenchEngine(b, path, Options{PrefixCache: -1})
	ctx := context.Background()
	turn5 := Request{Messages: scripted.messages(4, scriptedAnswers), MaxTokens: 1}
	p5 := reuse.PromptTokens(turn5)
	// Turn 4's prompt and answer: where turn 5's prompt stops being turn
	// 4 followed by its answer, less the end-of-turn markup.
	done := reuse.PromptTokens(Request{Messages: append(scripted.messages(3, scriptedAnswers[:3]),
		Message{Role: "assistant", Content: scriptedAnswers[3]})})
	cut := commonPrefix(toIDs(p5), toIDs(done))
	for cut > 0 && reuse.tok.TokenType(p5[cut-1]) != tokenizer.TypeNormal {
		cut-- // <|im_start|> …
	}
	for cut > 0 && strings.TrimSpace(reuse.tok.TokenText(p5[cut-1])) == "" {
		cut-- // … and the newline after <|im_end|>
	}
	for cut > 0 && reuse.tok.TokenType(p5[cut-1]) != tokenizer.TypeNormal {
		cut-- // <|im_end|>
	}
	answered := p5[:cut]
	warmUp(b, reuse, fresh)
	var withReuse, without time.Duration
	var cached int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		reuse.sched.pool.drop() // the scheduler is idle between calls
		if _, err := reuse.GenerateTokens(ctx, answered, Request{MaxTokens: 1}, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		res, err := reuse.Generate(ctx, turn5, nil)
		if err != nil {
			b.Fatal(err)
		}
		withReuse += time.Since(start)
		cached = res.CachedTokens

		start = time.Now()
		if _, err := fresh.Generate(ctx, turn5, nil); err != nil {
			b.Fatal(err)
		}
		without += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(withReuse.Microseconds())/1e3/n, "reuse-ms")
	b.ReportMetric(float64(without.Microseconds())/1e3/n, "fresh-ms")
	b.ReportMetric(withReuse.Seconds()/without.Seconds(), "ratio")
	b.ReportMetric(float64(cached), "cached-tok")
	b.ReportMetric(float64(len(p5)), "prompt-tok")
}

// BenchmarkBatchedDecode measures the aggregate generation speed of 1
// and of 4 concurrent chats (short prompts, 64 tokens each) and reports
// the ratio (the target is ≥ 2.5).
func BenchmarkBatchedDecode(b *testing.B) {
	path := schedBenchModel(b)
	e := schedBenchEngine(b, path, Options{Parallel: 4, PrefixCache: -1})
	ctx := context.Background()
	const gen = 64
	chats := func(n int) (tokens int, took time.Duration) {
		var wg sync.WaitGroup
		counts := make([]int, n)
		start := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := e.Generate(ctx, Request{
					Raw:       fmt.Sprintf("Chat %d: tell me about the weather", i),
					MaxTokens: gen,
					Sampling:  SamplingParams{Temperature: 0.8, TopK: 40, RepeatPenalty: 1.1, Seed: uint64(i)},
				}, nil)
				if err != nil {
					b.Error(err)
				}
				counts[i] = res.AnswerTokens
			}()
		}
		wg.Wait()
		took = time.Since(start)
		for _, c := range counts {
			tokens += c
		}
		return tokens, took
	}
	warmUp(b, e)
	var tok1, tok4 int
	var d1, d4 time.Duration
	b.ResetTimer()
	for range b.N {
		t, d := chats(1)
		tok1, d1 = tok1+t, d1+d
		t, d = chats(4)
		tok4, d4 = tok4+t, d4+d
	}
	one, four := float64(tok1)/d1.Seconds(), float64(tok4)/d4.Seconds()
	b.ReportMetric(one, "1chat-tok/s")
	b.ReportMetric(four, "4chats-tok/s")
	b.ReportMetric(four/one, "ratio")
}

// warmUp runs a short generation on each engine, so that the weights are
// mapped in before anything is timed.
func warmUp(b *testing.B, es ...*Engine) {
	b.Helper()
	for _, e := range es {
		if _, err := e.Generate(context.Background(), Request{Raw: "warm up", MaxTokens: 4}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStep is the scheduler's decode step (forward pass and
// sampling) for 4 requests; run with -benchmem: it should not allocate.
func BenchmarkDecodeStep(b *testing.B) {
	e := schedBenchEngine(b, schedBenchModel(b), Options{Parallel: 4})
	s := newScheduler(e, 4, 0) // not running: driven step by step here
	for _, r := range mixedRequests() {
		r.MaxTokens = 0
		j := e.newJob(context.Background(), toIDs(e.PromptTokens(r)), r)
		if !s.admit(j) {
			b.Fatal("not admitted")
		}
		s.active = append(s.active, j)
	}
	for range 4 {
		s.step()
		for _, j := range s.active {
			j.deliver(nil) // the callers keep up
		}
	}
	if len(s.active) != 4 {
		b.Fatalf("%d requests active, want 4", len(s.active))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, j := range s.active {
			if j.cache.Room(1) != nil {
				b.StopTimer()
				j.cache.Truncate(len(j.prompt))
				j.history = j.history[:len(j.prompt)]
				b.StartTimer()
			}
		}
		if err := s.advance(); err != nil {
			b.Fatal(err)
		}
		for _, j := range s.active {
			if j.sampled < 0 {
				b.Fatal("a request was not decoded")
			}
			j.history = append(j.history, j.sampled)
			j.next = j.sampled
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(4*b.N)/b.Elapsed().Seconds(), "tok/s")
	for _, j := range s.active {
		s.finish(j, StopCancelled, nil)
	}
}
