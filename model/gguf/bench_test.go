package gguf_test

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/internal/vocabdata"
)

// largeFile writes a file of about size bytes: Llama 3's real tokenizer
// metadata and Q4_K matrices of 4096×4096 (9 MiB each; they all share one
// buffer, so writing needs little memory).
func largeFile(b *testing.B, size int64) string {
	b.Helper()
	v, err := vocabdata.Llama3()
	if err != nil {
		b.Fatal(err)
	}
	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", "llama")
	if err := v.WriteGGUF(w); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 4096*4096/256*144)
	for i := range data {
		data[i] = byte(i)
	}
	for i := 0; int64(i)*int64(len(data)) < size; i++ {
		if err := w.AddTensor(fmt.Sprintf("blk.%d.ffn_up.weight", i), ggml.Q4_K, []uint64{4096, 4096}, data); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "large.gguf")
	if err := w.WriteFile(path); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkOpen maps and parses files of growing size with the same
// metadata: the time should not grow with the size (tensor data are not
// read).
func BenchmarkOpen(b *testing.B) {
	for _, size := range []int64{64 << 20, 1 << 30, 4 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			path := largeFile(b, size)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				f, err := gguf.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.TensorData("blk.0.ffn_up.weight"); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// BenchmarkParseVocabulary parses the metadata of a file with Llama 3's
// tokenizer (128256 tokens, 280147 merges), the bulk of Open's work.
func BenchmarkParseVocabulary(b *testing.B) {
	v, err := vocabdata.Llama3()
	if err != nil {
		b.Fatal(err)
	}
	w := gguf.NewWriter(3, 0)
	if err := v.WriteGGUF(w); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w.WriteTo(&buf)
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gguf.Parse(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteTo encodes Llama 3's tokenizer metadata (tensor data are
// copied through as they are, so metadata is the writer's own work).
func BenchmarkWriteTo(b *testing.B) {
	v, err := vocabdata.Llama3()
	if err != nil {
		b.Fatal(err)
	}
	w := gguf.NewWriter(3, 0)
	if err := v.WriteGGUF(w); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(w.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
