package gguf_test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/internal/vocabdata"
)

// writeBig writes a file with one F32 tensor of n elements (a byte
// pattern, not zeros) and returns its path and the SHA-256 of the data.
func writeBig(tb testing.TB, n uint64) (string, [32]byte) {
	tb.Helper()
	data := make([]byte, 4*n)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", "llama")
	if err := w.AddTensor("token_embd.weight", ggml.F32, []uint64{1024, n / 1024}, data); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "big.gguf")
	if err := w.WriteFile(path); err != nil {
		tb.Fatal(err)
	}
	return path, sha256.Sum256(data)
}

// TestOpenMapsInPlace opens a 48 MiB file and checks that its tensor data
// are read from the mapping: the Go heap does not grow by the file's size,
// and (on Linux) the slice lies in a mapping of the file.
func TestOpenMapsInPlace(t *testing.T) {
	const n = 12 << 20 // 48 MiB of F32
	path, want := writeBig(t, n)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := f.TensorData("token_embd.weight")
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.Sum256(data) // touches every page
	runtime.ReadMemStats(&after)
	if got != want {
		t.Fatal("tensor data differ from what was written")
	}
	if len(data) != 4*n {
		t.Fatalf("%d bytes, want %d", len(data), 4*n)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("Open and TensorData allocated %d bytes on the heap for a %d-byte tensor", grew, len(data))
	}
	if runtime.GOOS == "linux" {
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
		m := mappingOf(t, addr)
		if !strings.HasSuffix(m, path) {
			t.Errorf("tensor data at %#x lie in mapping %q, want one of %s", addr, m, path)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		if m := mappingOf(t, uintptr(unsafe.Pointer(unsafe.SliceData(data)))); strings.HasSuffix(m, path) {
			t.Error("the file is still mapped after Close")
		}
	}
}

// mappingOf returns the /proc/self/maps line of the mapping holding addr.
func mappingOf(t *testing.T, addr uintptr) string {
	t.Helper()
	fd, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	defer fd.Close()
	s := bufio.NewScanner(fd)
	for s.Scan() {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(s.Text(), "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return s.Text()
		}
	}
	return ""
}

// TestOpenLeavesArraysInMapping opens a file with the real Qwen2.5
// vocabulary (151,936 tokens, 151,387 merges: 5.7 MB of string arrays,
// 9.7 MiB of heap when they were copied out as Go strings) and checks that
// the arrays cost (almost) no heap while the file is open, lie in the
// mapping, read back exactly, and are still readable, from the heap, after
// Close.
func TestOpenLeavesArraysInMapping(t *testing.T) {
	v, err := vocabdata.Qwen2()
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", "qwen2")
	if err := v.WriteGGUF(w); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vocab.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(f)
	// What remains is the key index and small values: well under 1 MiB.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("an open vocabulary file holds %d bytes of heap, want under 1 MiB", grew)
	}

	tokens, _ := f.Get("tokenizer.ggml.tokens")
	view, ok := tokens.StringsView()
	if !ok || len(view) != len(v.Tokens) {
		t.Fatalf("StringsView: %d strings, %v; want %d", len(view), ok, len(v.Tokens))
	}
	copied, _ := tokens.Strings()
	for i := range v.Tokens {
		if view[i] != v.Tokens[i] || copied[i] != v.Tokens[i] {
			t.Fatalf("token %d: view %q, copy %q; want %q", i, view[i], copied[i], v.Tokens[i])
		}
	}
	if !tokens.Equal(gguf.StringsValue(v.Tokens)) {
		t.Error("the tokens differ from StringsValue of the same strings")
	}
	inMapping := func(s string) bool {
		m := mappingOf(t, uintptr(unsafe.Pointer(unsafe.StringData(s))))
		return strings.HasSuffix(m, path)
	}
	if runtime.GOOS == "linux" && !inMapping(view[1000]) {
		t.Error("StringsView's strings do not lie in the file's mapping")
	}
	if runtime.GOOS == "linux" && inMapping(copied[1000]) {
		t.Error("Strings' strings lie in the file's mapping")
	}
	types, _ := f.Get("tokenizer.ggml.token_type")

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	merges, ok := f.Strings("tokenizer.ggml.merges")
	if !ok || len(merges) != len(v.Merges) || merges[len(merges)-1] != v.Merges[len(v.Merges)-1] {
		t.Fatalf("merges after Close: %d, %v", len(merges), ok)
	}
	afterView, _ := tokens.StringsView()
	if afterView[151643] != v.Tokens[151643] {
		t.Errorf("token 151643 after Close: %q, want %q", afterView[151643], v.Tokens[151643])
	}
	if runtime.GOOS == "linux" && inMapping(afterView[1000]) {
		t.Error("after Close, StringsView still points at the (unmapped) file")
	}
	ids, _ := types.Ints()
	for i, want := range v.TokenTypes {
		if ids[i] != int64(want) {
			t.Fatalf("token type %d after Close: %d, want %d", i, ids[i], want)
		}
	}
}
