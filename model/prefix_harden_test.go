package model

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestSupersededCachesDropped: in a chat answered with two alternatives
// at once (A/B), the alternative not continued is superseded by the next
// turn, whose prompt contains its whole prompt: it is dropped then, not
// kept idle turn after turn until the budget evicts it.
func TestSupersededCachesDropped(t *testing.T) {
	e := load(t, Options{Threads: 2, Context: 1024, Parallel: 2, PrefixCache: 256 << 20})
	ctx := context.Background()
	msgs := []Message{{Role: "system", Content: systemPrompt}}
	for turn := range 8 {
		msgs = append(msgs, Message{Role: "user", Content: fmt.Sprintf("Question number %d: what next?", turn)})
		req := Request{Messages: msgs, MaxTokens: 6}
		var wg sync.WaitGroup
		res := make([]Result, 2)
		for i := range 2 {
			r := req
			r.Sampling.Seed, r.Sampling.Temperature = uint64(turn*2+i+1), 1
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if res[i], err = e.Generate(ctx, r, nil); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		msgs = append(msgs, Message{Role: "assistant", Content: res[0].Text})
		if n := len(idleTokens(e)); n > 2 {
			t.Fatalf("turn %d: %d idle caches for one chat, want at most the two alternatives", turn, n)
		}
	}
}

// TestCacheBytesCountsTokens: a cache's footprint counts its token list,
// not only its key/value pages.
func TestCacheBytesCountsTokens(t *testing.T) {
	e := load(t, Options{Threads: 2, Context: 256})
	if _, err := e.Generate(context.Background(), Request{Messages: []Message{{Role: "user", Content: "hello there"}}, MaxTokens: 2}, nil); err != nil {
		t.Fatal(err)
	}
	idle := e.sched.pool.idle
	if len(idle) != 1 {
		t.Fatalf("%d idle caches", len(idle))
	}
	c := idle[0].c
	pages := int64(0)
	for p := range c.Pages() {
		k, v, _ := c.Page(0, p)
		pages += int64(cap(k)+cap(v)) * 2 * int64(c.Layers())
	}
	if got := cacheFootprint(c); got <= pages || got < pages+int64(c.Len())*8 {
		t.Errorf("footprint %d, want more than the pages (%d) plus 8 bytes a token (%d tokens)", got, pages, c.Len())
	}
}

// TestLongChatMemoryFlat: 1,000 turns of one chat whose history is trimmed
// to the context (as the bot trims it) keep the idle caches within
// prefix_cache_mb at every turn, the garbage collector's slack included
// (their heap footprint times gcSlack), the heap between collections
// (garbage included) within the collector's goal for turn 100's live heap
// plus the budget, and the live heap and RSS after turn 1,000 where they
// were after turn 100.
func TestLongChatMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 turns")
	}
	const budget = 1 << 20
	e := load(t, Options{Threads: 2, Context: 256, PrefixCache: budget})
	ctx := context.Background()
	msgs := []Message{{Role: "system", Content: "You are terse."}}
	var heap100, rss100, peakAlloc uint64
	for turn := range 1000 {
		msgs = append(msgs, Message{Role: "user", Content: fmt.Sprintf("turn %d: tell me more", turn)})
		for len(msgs) > 3 && len(e.PromptTokens(Request{Messages: msgs})) > 160 {
			msgs = append(msgs[:1], msgs[3:]...) // the oldest exchange goes
		}
		res, err := e.Generate(ctx, Request{Messages: msgs, MaxTokens: 2}, nil)
		if err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		msgs = append(msgs, Message{Role: "assistant", Content: res.Text})
		if b := e.sched.pool.idleBytes(); float64(b)*gcSlack() > budget {
			t.Fatalf("turn %d: idle caches take %d bytes, %.0f with the collector's slack, over the %d budget", turn, b, float64(b)*gcSlack(), budget)
		}
		if turn >= 100 {
			peakAlloc = max(peakAlloc, heapAllocNow())
		}
		if turn == 99 {
			heap100, rss100 = liveHeap(), rss()
		}
	}
	heap1000, rss1000 := liveHeap(), rss()
	t.Logf("heap in use between collections peaked at %.1f MiB over turns 100-1000", float64(peakAlloc)/(1<<20))
	// Between collections the heap runs up to the collector's goal, the
	// live heap times gcSlack (the per-turn working memory is garbage
	// too): over 900 more turns it must stay under the goal of turn 100's
	// live heap, plus the budget and 8 MiB.
	if goal := uint64(float64(heap100)*gcSlack()) + budget + 8<<20; peakAlloc > goal {
		t.Errorf("the heap between collections reached %d bytes, over %d (turn 100's live heap %d times the collector's slack %.2f, plus the %d budget and 8 MiB)", peakAlloc, goal, heap100, gcSlack(), budget)
	}
	t.Logf("live heap after turn 100: %.1f MiB, after turn 1000: %.1f MiB; RSS %.1f MiB and %.1f MiB", float64(heap100)/(1<<20), float64(heap1000)/(1<<20), float64(rss100)/(1<<20), float64(rss1000)/(1<<20))
	if rss100 > 0 && rss1000 > rss100+16<<20 {
		t.Errorf("RSS grew from %d to %d bytes over 900 turns", rss100, rss1000)
	}
	if heap1000 > heap100+2<<20 {
		t.Errorf("live heap grew from %d to %d bytes over 900 turns", heap100, heap1000)
	}
}

// rss reads the resident set size from /proc (0 where there is none).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if n, err := strconv.ParseUint(f[0], 10, 64); err == nil && len(f) == 2 && f[1] == "kB" {
				return n << 10
			}
		}
	}
	return 0
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func heapAllocNow() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestGCSlack: the prefix cache's live budget is the configured one
// divided by 1 + GOGC/100.
func TestGCSlack(t *testing.T) {
	for _, c := range []struct {
		gogc string
		want float64
	}{{"", 2}, {"100", 2}, {"50", 1.5}, {"off", 1}, {"bogus", 2}, {"300", 4}} {
		t.Setenv("GOGC", c.gogc)
		if got := gcSlack(); got != c.want {
			t.Errorf("GOGC=%q: slack %v, want %v", c.gogc, got, c.want)
		}
	}
	if got := liveBudget(512<<20, 2); got != 256<<20 {
		t.Errorf("live budget of 512 MiB at slack 2: %d", got)
	}
	if got := liveBudget(-1, 2); got != -1 {
		t.Errorf("a negative budget (keep none) became %d", got)
	}
}
