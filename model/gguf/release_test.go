package gguf_test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/chatloop/chatloop/model/gguf"
)

// residentIn returns the resident bytes (smaps' Rss) of the mapping that
// holds addr.
func residentIn(t *testing.T, addr uintptr) int64 {
	t.Helper()
	fd, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer fd.Close()
	s := bufio.NewScanner(fd)
	in := false
	for s.Scan() {
		line := s.Text()
		var lo, hi uintptr
		if f := strings.Fields(line); len(f) > 0 && !strings.HasSuffix(f[0], ":") {
			if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err == nil {
				in = lo <= addr && addr < hi
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ok && in {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				t.Fatalf("smaps: %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return 0
}

// TestReleaseTensor reads a 16 MiB tensor (every page resident in the
// file's mapping), releases it, and checks that its pages left the
// process's resident memory and that the data still read back whole.
func TestReleaseTensor(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resident memory per mapping is read from /proc/self/smaps")
	}
	const n = 4 << 20 // 16 MiB of F32
	path, want := writeBig(t, n)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := f.TensorData("token_embd.weight")
	if err != nil {
		t.Fatal(err)
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	if got := sha256.Sum256(data); got != want {
		t.Fatal("tensor data differ from what was written")
	}
	before := residentIn(t, addr)
	if before < 4*n {
		t.Fatalf("after reading the tensor the mapping has %d bytes resident, want at least %d", before, 4*n)
	}
	if err := f.ReleaseTensor("token_embd.weight"); err != nil {
		t.Fatal(err)
	}
	after := residentIn(t, addr)
	// At most the two pages the tensor shares with the header and the
	// end of the file stay.
	if after > 2*int64(os.Getpagesize())+(before-4*n) {
		t.Errorf("after ReleaseTensor the mapping has %d bytes resident (%d before), want the tensor's pages gone", after, before)
	}
	if got := sha256.Sum256(data); got != want {
		t.Error("the released tensor reads back different data")
	}
	if err := f.ReleaseTensor("missing.weight"); err == nil {
		t.Error("releasing a missing tensor: no error")
	}
	f.Close()
	if err := f.ReleaseTensor("token_embd.weight"); err == nil {
		t.Error("releasing a tensor of a closed file: no error")
	}
}

// TestReleaseTensorParsed: a File from Parse has nothing mapped, and
// releasing leaves its bytes alone.
func TestReleaseTensorParsed(t *testing.T) {
	path, want := writeBig(t, 1<<16)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ReleaseTensor("token_embd.weight"); err != nil {
		t.Fatal(err)
	}
	data, _ := f.TensorData("token_embd.weight")
	if sha256.Sum256(data) != want {
		t.Error("ReleaseTensor changed a parsed file's data")
	}
}
