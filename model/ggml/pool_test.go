package ggml

import (
	"sync/atomic"
	"testing"
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
