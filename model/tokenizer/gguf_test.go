package tokenizer

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/internal/vocabdata"
)

// writeVocabGGUF writes a metadata-only GGUF file with the vocabulary's
// tokenizer keys, edited by edit, and opens it.
func writeVocabGGUF(t *testing.T, v *vocabdata.Vocab, edit func(w *gguf.Writer)) *gguf.File {
	t.Helper()
	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", "qwen2")
	if err := v.WriteGGUF(w); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(w)
	}
	path := filepath.Join(t.TempDir(), "vocab.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFromGGUFMatchesLlamaCpp reads real GGUF files (both vocabularies)
// and checks ids and end-of-generation tokens against llama.cpp's fixtures.
func TestFromGGUFMatchesLlamaCpp(t *testing.T) {
	for _, tt := range []struct{ vocab, fixture string }{{"qwen2", "qwen2"}, {"llama3", "llama-bpe"}} {
		f := writeVocabGGUF(t, realVocab(t, tt.vocab), nil)
		tok, err := FromGGUF(f)
		if err != nil {
			t.Fatalf("%s: %v", tt.vocab, err)
		}
		g := readGolden(t, tt.fixture)
		for _, c := range g.Cases[:300] {
			if diff := cmp.Diff(c.IDs, tok.Tokenize(c.Text, false, c.Special)); diff != "" {
				t.Fatalf("%s: Tokenize(%q, %v) (-llama.cpp +got):\n%s", tt.vocab, c.Text, c.Special, diff)
			}
		}
		if diff := cmp.Diff(g.EOG, tok.EOGTokens()); diff != "" {
			t.Errorf("%s: EOG (-llama.cpp +got):\n%s", tt.vocab, diff)
		}
		v := realVocab(t, tt.vocab)
		if tok.VocabSize() != len(v.Tokens) || tok.BOS() != v.BOS || tok.EOS() != v.EOS || tok.AddBOS() != v.AddBOS {
			t.Errorf("%s: size %d BOS %d EOS %d AddBOS %v", tt.vocab, tok.VocabSize(), tok.BOS(), tok.EOS(), tok.AddBOS())
		}
	}
}

func TestFromGGUFDefaults(t *testing.T) {
	v := *realVocab(t, "llama3")
	v.BOS, v.EOS, v.EOT = -1, -1, -1
	f := writeVocabGGUF(t, &v, nil)
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	// llama.cpp's defaults for a gpt2 vocabulary without the keys.
	if tok.BOS() != 11 || tok.EOS() != 11 || !tok.IsEOG(11) {
		t.Errorf("BOS %d EOS %d, want llama.cpp's default 11", tok.BOS(), tok.EOS())
	}
	eot, _ := tok.TokenID("<|eot_id|>")
	if tok.EOT() != eot {
		t.Errorf("EOT %d, want <|eot_id|> %d found by its text", tok.EOT(), eot)
	}
}

func TestFromGGUFErrors(t *testing.T) {
	v := &vocabdata.Vocab{
		Model: "gpt2", Pre: "qwen2", Tokens: []string{"a", "b", "ab"}, TokenTypes: []int32{1, 1, 1},
		Merges: []string{"a b"}, BOS: 0, EOS: 1, EOT: -1, PAD: -1,
	}
	if tok, err := FromGGUF(writeVocabGGUF(t, v, nil)); err != nil || !slices.Equal(tok.Encode("abab"), []int32{2, 2}) {
		t.Fatalf("tiny vocabulary: %v", err)
	}
	tests := []struct {
		name    string
		edit    func(w *gguf.Writer)
		want    error
		mention string
	}{
		{"spm model", func(w *gguf.Writer) { w.SetString("tokenizer.ggml.model", "llama") }, ErrUnsupported, "supported: gpt2"},
		{"unknown pre", func(w *gguf.Writer) { w.SetString("tokenizer.ggml.pre", "deepseek-llm") }, ErrUnsupported, "qwen2"},
		{"types", func(w *gguf.Writer) { w.SetInt32s("tokenizer.ggml.token_type", []int32{1, 1}) }, ErrInvalid, "token types"},
		{"types not ints", func(w *gguf.Writer) { w.SetStrings("tokenizer.ggml.token_type", []string{"x"}) }, ErrInvalid, "integer array"},
		{"bos out of range", func(w *gguf.Writer) { w.SetUint32("tokenizer.ggml.bos_token_id", 1<<30) }, ErrInvalid, "bos_token_id"},
		{"add_bos not bool", func(w *gguf.Writer) { w.SetString("tokenizer.ggml.add_bos_token", "yes") }, ErrInvalid, "add_bos_token"},
		{"merges", func(w *gguf.Writer) { w.SetInt32s("tokenizer.ggml.merges", []int32{1}) }, ErrInvalid, "merges"},
	}
	for _, tt := range tests {
		f := writeVocabGGUF(t, v, tt.edit)
		_, err := FromGGUF(f)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%s: FromGGUF error = %v, want %v mentioning %q", tt.name, err, tt.want, tt.mention)
		}
	}
}
