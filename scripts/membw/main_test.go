package main

import "testing"

func TestSum(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 1000, 4099} {
		b := make([]uint64, n)
		for i := range b {
			b[i] = uint64(i)
		}
		for _, threads := range []int{1, 2, 3} {
			if got, want := sumParallel(b, threads), sumOfIndices(n); got != want {
				t.Errorf("n=%d, %d goroutines: sum %d, want %d", n, threads, got, want)
			}
		}
	}
}

func BenchmarkSum(b *testing.B) {
	buf := make([]uint64, 1<<17) // 1 MiB: in cache
	b.SetBytes(int64(len(buf) * 8))
	for b.Loop() {
		sum(buf)
	}
}
