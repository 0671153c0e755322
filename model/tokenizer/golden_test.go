package tokenizer

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/model/internal/vocabdata"
)

// golden is a fixture written by scripts/reference/tokenizer-golden.mjs:
// llama.cpp's token ids for every corpus text.
type golden struct {
	Pre      string  `json:"pre"`
	Vocab    string  `json:"vocab"`
	LlamaCpp string  `json:"llama_cpp"`
	EOG      []int32 `json:"eog"`
	Cases    []struct {
		Text    string  `json:"text"`
		Special bool    `json:"special"`
		IDs     []int32 `json:"ids"`
		Detok   *string `json:"detok"`
	} `json:"cases"`
}

func readGolden(t testing.TB, name string) *golden {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "golden-"+name+".json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.NewDecoder(zr).Decode(&g); err != nil {
		t.Fatal(err)
	}
	return &g
}

var (
	vocabMu    sync.Mutex
	vocabCache = map[string]*vocabdata.Vocab{}
)

func realVocab(t testing.TB, name string) *vocabdata.Vocab {
	t.Helper()
	vocabMu.Lock()
	defer vocabMu.Unlock()
	if v, ok := vocabCache[name]; ok {
		return v
	}
	var v *vocabdata.Vocab
	var err error
	switch name {
	case "qwen2":
		v, err = vocabdata.Qwen2()
	case "llama3":
		v, err = vocabdata.Llama3()
	default:
		t.Fatalf("no vocabulary %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	vocabCache[name] = v
	return v
}

func configFor(v *vocabdata.Vocab, pre string) Config {
	return Config{
		Model: v.Model, Pre: pre, Tokens: v.Tokens, Types: v.TokenTypes, Merges: v.Merges,
		BOS: v.BOS, EOS: v.EOS, EOT: v.EOT, EOM: -1, PAD: v.PAD, AddBOS: v.AddBOS,
	}
}

func realTokenizer(t testing.TB, vocab, pre string) *Tokenizer {
	t.Helper()
	tok, err := New(configFor(realVocab(t, vocab), pre))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestGoldenLlamaCpp compares Encode with llama.cpp's ids on the corpus for
// each supported pre-tokenizer, with special-token parsing off and on.
func TestGoldenLlamaCpp(t *testing.T) {
	for _, name := range []string{"qwen2", "llama-bpe", "smollm", "gpt2"} {
		t.Run(name, func(t *testing.T) {
			g := readGolden(t, name)
			tok := realTokenizer(t, g.Vocab, g.Pre)
			if len(g.Cases) < 2000 {
				t.Fatalf("fixture has only %d cases", len(g.Cases))
			}
			failed := 0
			for _, c := range g.Cases {
				got := tok.Tokenize(c.Text, false, c.Special)
				if diff := cmp.Diff(c.IDs, got); diff != "" {
					failed++
					if failed <= 5 {
						t.Errorf("Tokenize(%q, special=%v) differs from llama.cpp (-want +got):\n%s", c.Text, c.Special, diff)
					}
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d cases differ from llama.cpp", failed, len(g.Cases))
			}
			if diff := cmp.Diff(g.EOG, tok.EOGTokens()); diff != "" {
				t.Errorf("EOG tokens differ from llama.cpp (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGoldenDecode checks that decoding llama.cpp's ids gives back the
// exact text, and matches llama.cpp's own detokenizer where that one does
// not clean up spaces (Qwen's pre-tokenizers).
func TestGoldenDecode(t *testing.T) {
	for _, name := range []string{"qwen2", "llama-bpe", "smollm", "gpt2"} {
		t.Run(name, func(t *testing.T) {
			g := readGolden(t, name)
			tok := realTokenizer(t, g.Vocab, g.Pre)
			cleansSpaces := name == "llama-bpe" || name == "gpt2"
			for _, c := range g.Cases {
				got := tok.Decode(c.IDs)
				if got != c.Text {
					t.Errorf("Decode(ids of %q) = %q", c.Text, got)
				}
				if c.Detok != nil && !cleansSpaces && got != *c.Detok {
					t.Errorf("Decode(ids of %q) = %q, llama.cpp detokenizes %q", c.Text, got, *c.Detok)
				}
			}
		})
	}
}
