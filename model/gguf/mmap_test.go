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
