package hub

import (
	"context"
	"os"
	"testing"
)

// BenchmarkDownload measures a pull over loopback: HTTP, SHA-256 and the
// disk write, which bound what a fast link can deliver.
func BenchmarkDownload(b *testing.B) {
	f := newFakeHF(b)
	content := randomBytes(32<<20, 14)
	f.add("o/r/m.gguf", content)
	src, err := ParseSource("hf://o/r/m.gguf")
	if err != nil {
		b.Fatal(err)
	}
	p := newPuller(f)
	cache := Cache{Dir: b.TempDir()}
	b.SetBytes(int64(len(content)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Pull(context.Background(), src, cache); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := cache.Remove("m.gguf"); err != nil {
			b.Fatal(err)
		}
		os.Remove(cache.PathFor(src) + partSuffix)
		b.StartTimer()
	}
}
