package model

import (
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"unsafe"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/kvcache"
	"github.com/chatloop/chatloop/model/testmodel"
)

// heapInUse is the Go heap held by live objects.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestLoadHeap guards the Go heap a loaded model holds: its weights stay
// in the file's mapping, so the heap is the tokenizer, the metadata and
// the engine's buffers. The model is tiny but has the real Qwen2.5
// vocabulary (151,936 tokens, 151,387 merges), which dominates.
//
// The tokenizer's tables take 7.3 MiB (token texts 1.31, decoded pieces
// 0.93, their two offset arrays 2 × 0.58, the text index 1.00, the merge
// list 1.73 and its index 1.00, the token types 0.14); the bound of 8 MiB
// fails if even one more copy of the token texts is kept. (Go maps keyed
// by strings and a []string and [][]byte of the tokens took 22 MiB, and
// the file's metadata arrays another 10 MiB on the heap.) The whole load
// adds the logits (0.6 MiB), a tiny model's norms and cache and the
// engine's small buffers: 12 MiB leaves room for those and fails if the
// metadata arrays (5.7 MiB) come back onto the heap.
func TestLoadHeap(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 1))

	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	tok, err := newTokenizer(f)
	if err != nil {
		t.Fatal(err)
	}
	tokHeap := heapInUse() - before
	if tok.VocabSize() != 151936 {
		t.Fatalf("vocabulary of %d tokens, want Qwen2.5's 151936", tok.VocabSize())
	}
	runtime.KeepAlive(tok)
	f.Close()

	before = heapInUse()
	e, err := Load(path, Options{Threads: 1, Context: 256})
	if err != nil {
		t.Fatal(err)
	}
	// The background hash's buffer is garbage once it is done.
	if _, err := e.FileSHA256(); err != nil {
		t.Fatal(err)
	}
	loadHeap := heapInUse() - before
	runtime.KeepAlive(e)
	e.Close()

	const mib = 1 << 20
	t.Logf("heap held: tokenizer %.2f MiB, whole load %.2f MiB", float64(tokHeap)/mib, float64(loadHeap)/mib)
	if tokHeap > 8*mib {
		t.Errorf("the Qwen2.5 tokenizer holds %.2f MiB of heap, want at most 8 MiB", float64(tokHeap)/mib)
	}
	if loadHeap > 12*mib {
		t.Errorf("a loaded tiny model with the Qwen2.5 vocabulary holds %.2f MiB of heap, want at most 12 MiB", float64(loadHeap)/mib)
	}
}

// BenchmarkLoad loads a tiny model with the real Qwen2.5 vocabulary:
// mapping and parsing the file and building the tokenizer are most of the
// work (the weights are mapped, not read).
func BenchmarkLoad(b *testing.B) {
	path := testmodel.Write(b, testmodel.Tiny("qwen2", ggml.Q8_0, 1))
	b.ReportAllocs()
	for b.Loop() {
		e, err := Load(path, Options{Threads: 1, Context: 256})
		if err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}

// TestVectorsStayInMapping: F32 norm weights and biases are used where
// they lie in the file, with the values the file holds.
func TestVectorsStayInMapping(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 1))
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, w, err := readModel(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name string
		got  []float32
	}{{"output_norm.weight", w.OutputNorm}, {"blk.1.attn_norm.weight", w.Layers[1].AttnNorm}, {"blk.0.attn_q.bias", w.Layers[0].QBias}} {
		info, _ := f.Tensor(v.name)
		data, err := f.TensorData(v.name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Type != ggml.F32 {
			t.Fatalf("%s is %s, want F32", v.name, info.Type)
		}
		want := make([]float32, info.Elements())
		if err := ggml.Dequantize(ggml.F32, data, want); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(v.got, want) {
			t.Errorf("%s differs from the file's values", v.name)
		}
		if unsafe.Pointer(&v.got[0]) != unsafe.Pointer(&data[0]) {
			t.Errorf("%s was copied out of the mapping", v.name)
		}
	}
}

// TestResidentMemory checks issue #5's memory bound, resident memory ≤
// file + key/value cache + 64 MiB, on a model whose weights (97 MB, most
// of them the 151936×512 tied embedding) exceed the 64 MiB of slack, so
// that holding them twice (the file's pages and the packed copies) would
// fail it. The bound is on the growth of the process's resident memory
// from before Load to after a forward pass that reads every weight.
func TestResidentMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writes a 97 MB model")
	}
	if residentBytes() == 0 {
		t.Skip("resident memory is read from /proc/self/status")
	}
	spec := testmodel.Spec{Arch: "qwen2", Type: ggml.Q8_0, Layers: 2, Hidden: 512, Heads: 8, KVHeads: 2, FFN: 1024, Seed: 5}
	path := testmodel.Write(t, spec)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	for _, noRepack := range []bool{false, true} {
		runtime.GC()
		debug.FreeOSMemory()
		before := residentBytes()
		e, err := Load(path, Options{Threads: 2, Context: 256, Repack: RepackIf(!noRepack)})
		if err != nil {
			t.Fatal(err)
		}
		prompt := e.Tokenize("Resident memory counts every weight once, whatever the layout.")
		if _, err := e.Logits(prompt); err != nil {
			t.Fatal(err)
		}
		grew := residentBytes() - before
		// The cache's pages in use: keys and values of every layer for the
		// prompt's positions, rounded up to whole pages of positions.
		c := e.model.Config
		kv := int64(2*c.Layers*c.KVHeads*c.HeadDim*4) * int64((len(prompt)+kvcache.PageSize-1)/kvcache.PageSize*kvcache.PageSize)
		limit := st.Size() + kv + 64*mib
		t.Logf("repack %v: file %.1f MiB, repacked %.1f MiB; resident memory grew %.1f MiB (limit %.1f MiB)",
			!noRepack, float64(st.Size())/mib, float64(e.Info().RepackedBytes)/mib, float64(grew)/mib, float64(limit)/mib)
		if grew > limit {
			t.Errorf("repack %v: resident memory grew by %.1f MiB, more than file + KV cache + 64 MiB = %.1f MiB", !noRepack, float64(grew)/mib, float64(limit)/mib)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
