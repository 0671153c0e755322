package model

import (
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
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
