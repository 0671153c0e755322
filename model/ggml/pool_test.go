package ggml

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoolParallelVisitsEveryIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 5} {
		p := NewPool(threads)
		for _, c := range []struct{ n, chunk int }{{0, 1}, {1, 1}, {7, 1}, {100, 3}, {1000, 0}, {33, 64}} {
			seen := make([]atomic.Int32, c.n)
			fn := func(i int) { seen[i].Add(1) }
			if err := p.Parallel(c.n, c.chunk, fn); err != nil {
				t.Fatal(err)
			}
			for i := range seen {
				if got := seen[i].Load(); got != 1 {
					t.Errorf("threads %d, n %d, chunk %d: index %d visited %d times", threads, c.n, c.chunk, i, got)
				}
			}
		}
		p.Close()
		if err := p.Parallel(3, 1, func(int) {}); err != ErrClosed {
			t.Errorf("Parallel after Close: got %v, want ErrClosed", err)
		}
	}
}

func TestPoolParallelDoesNotAllocate(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var sum atomic.Int64
	fn := func(i int) { sum.Add(int64(i)) }
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Parallel(64, 4, fn); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parallel allocates %v times per call, want 0", allocs)
	}
}

// TestPoolWakesParkedWorkers lets the workers park (idle past spinFor),
// then gives the pool a job that only finishes when the caller and every
// worker run it at the same time: a lost wake-up would leave it waiting.
func TestPoolWakesParkedWorkers(t *testing.T) {
	const threads = 3
	p := NewPool(threads) // closed at the end only: Close waits for a stuck job
	for round := 0; round < 3; round++ {
		deadline := time.Now().Add(10 * time.Second)
		for !allParked(p) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: workers still polling %v after the last job", round, 10*time.Second)
			}
			time.Sleep(spinFor)
		}
		var arrived atomic.Int32
		var late atomic.Bool
		fn := func(int) {
			arrived.Add(1)
			stop := time.Now().Add(10 * time.Second)
			for arrived.Load() < threads {
				if time.Now().After(stop) {
					late.Store(true)
					return
				}
				runtime.Gosched()
			}
		}
		done := make(chan error, 1)
		go func() { done <- p.Parallel(threads, 1, fn) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the job has not finished in 30s; a parked worker was not woken", round)
		}
		if late.Load() {
			t.Fatalf("round %d: %d of %d goroutines ran the job; a parked worker was not woken", round, arrived.Load(), threads)
		}
	}
	p.Close()
}

func allParked(p *Pool) bool {
	for _, w := range p.workers {
		if !w.asleep.Load() {
			return false
		}
	}
	return true
}

// TestPoolCloseEndsWorkers closes pools whose workers are polling (closed
// right after a job) and parked, and checks that their goroutines end.
func TestPoolCloseEndsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	fn := func(int) {}
	for _, idle := range []time.Duration{0, 3 * spinFor} {
		for i := 0; i < 5; i++ {
			p := NewPool(4)
			if err := p.Parallel(100, 1, fn); err != nil {
				t.Fatal(err)
			}
			time.Sleep(idle)
			p.Close()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after closing the pools, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPoolOnOneProcessor runs many small jobs on a pool larger than
// GOMAXPROCS: the waiting caller and idle workers must yield the only
// processor to the goroutines that hold the work.
func TestPoolOnOneProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p := NewPool(3)
	defer p.Close()
	var sum atomic.Int64
	fn := func(i int) { sum.Add(int64(i)) }
	for i := 0; i < 2000; i++ {
		if err := p.Parallel(10, 1, fn); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := sum.Load(), int64(2000*45); got != want {
		t.Fatalf("sum %d, want %d", got, want)
	}
}
