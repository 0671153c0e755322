package tokenizer

import (
	"compress/gzip"
	"io"
	"math/rand/v2"
	"os"
	"slices"
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
						tok.cache.reset()
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

// BenchmarkLookup compares the tokenizer's compact tables with the Go
// maps they replaced (built here, in the same run, as the reference):
// every Qwen2.5 token text to its id, and every merge pair to its rank,
// in a shuffled order.
func BenchmarkLookup(b *testing.B) {
	v := realVocab(b, "qwen2")
	tok := realTokenizer(b, "qwen2", "qwen2")
	r := rand.New(rand.NewPCG(1, 2))
	texts := slices.Clone(v.Tokens)
	r.Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })
	ids := make(map[string]int32, len(v.Tokens))
	for i, s := range v.Tokens {
		ids[s] = int32(i)
	}
	type pair struct{ a, b int32 }
	var pairs []pair
	ranks := map[uint64]uint64{}
	for i, m := range v.Merges {
		a, c, _ := strings.Cut(m[1:], " ")
		a = m[:1] + a
		p := pair{ids[a], ids[c]}
		k := uint64(uint32(p.a))<<32 | uint64(uint32(p.b))
		if _, dup := ranks[k]; !dup {
			ranks[k] = uint64(i)<<32 | uint64(uint32(ids[a+c]))
			pairs = append(pairs, p)
		}
	}
	r.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	// The words of the corpus, byte-level encoded as the Llama 3 path
	// looks them up (most are tokens, some are not).
	var words [][]byte
	for _, l := range readCorpus(b) {
		for i, w := range strings.Fields(l) {
			if i > 0 {
				w = " " + w
			}
			words = append(words, byteEncode(nil, w))
		}
	}
	b.Run("word/map", func(b *testing.B) {
		var sum int32
		for b.Loop() {
			for _, w := range words {
				sum += ids[string(w)]
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(words)), "ns/lookup")
	})
	b.Run("word/index", func(b *testing.B) {
		var sum int32
		for b.Loop() {
			for _, w := range words {
				id, _ := tok.vocab.idBytes(w)
				sum += id
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(words)), "ns/lookup")
	})
	b.Run("text/map", func(b *testing.B) {
		var sum int32
		for b.Loop() {
			for _, s := range texts {
				sum += ids[s]
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(texts)), "ns/lookup")
	})
	b.Run("text/index", func(b *testing.B) {
		var sum int32
		for b.Loop() {
			for _, s := range texts {
				id, _ := tok.vocab.id(s)
				sum += id
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(texts)), "ns/lookup")
	})
	b.Run("merge/map", func(b *testing.B) {
		var sum uint64
		for b.Loop() {
			for _, p := range pairs {
				sum += ranks[uint64(uint32(p.a))<<32|uint64(uint32(p.b))]
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pairs)), "ns/lookup")
	})
	b.Run("merge/table", func(b *testing.B) {
		var sum int32
		for b.Loop() {
			for _, p := range pairs {
				rank, _, _ := tok.merges.find(p.a, p.b)
				sum += rank
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pairs)), "ns/lookup")
	})
}
