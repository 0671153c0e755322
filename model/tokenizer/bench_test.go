package tokenizer

import (
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"
)

func readCorpus(b *testing.B) []string {
	f, err := os.Open("testdata/corpus.txt.gz")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
}

// BenchmarkEncode encodes the golden corpus line by line and reports
// tokens/s. "cold" clears the word cache before every pass.
func BenchmarkEncode(b *testing.B) {
	lines := readCorpus(b)
	var bytes int
	for _, l := range lines {
		bytes += len(l)
	}
	for _, v := range []struct{ vocab, pre string }{{"qwen2", "qwen2"}, {"llama3", "llama-bpe"}} {
		tok := realTokenizer(b, v.vocab, v.pre)
		for _, cold := range []bool{false, true} {
			name := v.pre + "/warm"
			if cold {
				name = v.pre + "/cold"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(bytes))
				tokens := 0
				for b.Loop() {
					if cold {
						tok.mu.Lock()
						clear(tok.cache)
						tok.mu.Unlock()
					}
					for _, l := range lines {
						tokens += len(tok.Encode(l))
					}
				}
				b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	lines := readCorpus(b)
	tok := realTokenizer(b, "qwen2", "qwen2")
	var ids [][]int32
	tokens := 0
	for _, l := range lines {
		ids = append(ids, tok.Encode(l))
		tokens += len(ids[len(ids)-1])
	}
	for b.Loop() {
		for _, x := range ids {
			_ = tok.Decode(x)
		}
	}
	b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkNew builds the Qwen2.5 (151,936 tokens, 151,387 merges) and
// Llama 3 (128,256 tokens, 280,147 merges) tokenizers: part of every
// model load. B/op includes what is garbage once New returns; the
// retained size is TestRetainedHeap's.
func BenchmarkNew(b *testing.B) {
	for _, v := range []struct{ vocab, pre string }{{"qwen2", "qwen2"}, {"llama3", "llama-bpe"}} {
		c := configFor(realVocab(b, v.vocab), v.pre)
		b.Run(v.vocab, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
