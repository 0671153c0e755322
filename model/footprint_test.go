package model

import (
	"runtime"
	"testing"

	"github.com/chatloop/chatloop/model/kvcache"
)

// TestFootprintMatchesHeap: what cacheFootprint counts for idle caches is
// what the Go heap really holds for them, as the runtime measures it (the
// live heap before and after making them): never less (but for a little
// noise), and at most 10% more. Shapes whose pages are not a multiple of the allocator's 8 KiB
// pages, and token lists grown by append, are included.
func TestFootprintMatchesHeap(t *testing.T) {
	for _, shape := range []struct{ layers, kvDim, size, tokens int }{
		{3, 36, 2048, 1500}, // pages of 110,592 bytes: rounded up by the allocator
		{2, 100, 4096, 3000},
		{24, 128, 1024, 700}, // Qwen2.5-0.5B's shape
	} {
		const n = 40
		caches := make([]*kvcache.Cache, n) // before the measure: not the caches' own
		before := liveHeapAlloc()
		for i := range caches {
			c, err := kvcache.New(shape.layers, shape.kvDim, shape.size)
			must(t, err)
			// As a chat grows: a few tokens a turn.
			for done := 0; done < shape.tokens; done += 37 {
				k := min(37, shape.tokens-done)
				must(t, c.Reserve(k))
				toks := make([]int, k)
				must(t, c.Commit(toks...))
			}
			caches[i] = c
		}
		measured := int64(liveHeapAlloc()) - int64(before)
		var counted int64
		for _, c := range caches {
			counted += cacheFootprint(c)
		}
		t.Logf("%+v: %d caches counted %d bytes, the heap grew %d", shape, n, counted, measured)
		// 16 KiB of slack for what the runtime and the test framework
		// allocate meanwhile.
		if counted < measured-16<<10 || float64(counted) > 1.1*float64(measured) {
			t.Errorf("%+v: counted %d bytes for what took %d on the heap", shape, counted, measured)
		}
		runtime.KeepAlive(caches)
	}
}

func liveHeapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
