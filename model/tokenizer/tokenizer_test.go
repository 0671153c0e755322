package tokenizer

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestTokenizeAddsBOSOnlyWhenAsked(t *testing.T) {
	llama := realTokenizer(t, "llama3", "llama-bpe")
	qwen := realTokenizer(t, "qwen2", "qwen2")
	text := "Hello world"
	if got := llama.Tokenize(text, true, false); len(got) == 0 || got[0] != llama.BOS() {
		t.Errorf("llama3 Tokenize(add special) = %v, want BOS %d first", got, llama.BOS())
	}
	if diff := cmp.Diff(llama.Encode(text), llama.Tokenize(text, true, false)[1:]); diff != "" {
		t.Errorf("llama3: ids after BOS differ from Encode:\n%s", diff)
	}
	if got, want := qwen.Tokenize(text, true, false), qwen.Encode(text); !slices.Equal(got, want) {
		t.Errorf("qwen2 (add_bos_token false) Tokenize(add special) = %v, want %v", got, want)
	}
	if !llama.AddBOS() || qwen.AddBOS() {
		t.Errorf("AddBOS: llama3 %v qwen2 %v, want true false", llama.AddBOS(), qwen.AddBOS())
	}
}

func TestSpecialTokens(t *testing.T) {
	qwen := realTokenizer(t, "qwen2", "qwen2")
	imStart, _ := qwen.TokenID("<|im_start|>")
	imEnd, _ := qwen.TokenID("<|im_end|>")
	toolCall, _ := qwen.TokenID("<tool_call>")
	text := "<|im_start|>user\nhi<|im_end|>"

	got := qwen.EncodeSpecial(text)
	if got[0] != imStart || got[len(got)-1] != imEnd {
		t.Errorf("EncodeSpecial(%q) = %v, want %d first and %d last", text, got, imStart, imEnd)
	}
	plain := qwen.Encode(text)
	if slices.Contains(plain, imStart) || slices.Contains(plain, imEnd) {
		t.Errorf("Encode(%q) = %v contains control tokens; user text must not inject them", text, plain)
	}
	if qwen.Decode(plain) != text || qwen.Decode(got) != text {
		t.Errorf("decode does not give back %q", text)
	}
	// User-defined tokens are matched even without special parsing, as llama.cpp does.
	if got := qwen.Encode("<tool_call>"); !slices.Equal(got, []int32{toolCall}) {
		t.Errorf("Encode(<tool_call>) = %v, want [%d]", got, toolCall)
	}
	if qwen.TokenType(imEnd) != TypeControl || qwen.TokenType(toolCall) != TypeUserDefined {
		t.Errorf("token types: im_end %d tool_call %d", qwen.TokenType(imEnd), qwen.TokenType(toolCall))
	}
}

func TestEndOfGeneration(t *testing.T) {
	tests := []struct {
		vocab, pre string
		eog        []string
		notEOG     []string
		eos, eot   string
	}{
		{"qwen2", "qwen2", []string{"<|im_end|>", "<|endoftext|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"},
			[]string{"<|im_start|>", "<tool_call>", "Ġhello"}, "<|im_end|>", "<|im_end|>"},
		{"llama3", "llama-bpe", []string{"<|eot_id|>", "<|end_of_text|>"},
			[]string{"<|begin_of_text|>", "<|start_header_id|>"}, "<|end_of_text|>", "<|eot_id|>"},
	}
	for _, tt := range tests {
		tok := realTokenizer(t, tt.vocab, tt.pre)
		id := func(s string) int32 {
			i, ok := tok.TokenID(s)
			if !ok {
				t.Fatalf("%s: no token %q", tt.vocab, s)
			}
			return i
		}
		for _, s := range tt.eog {
			if !tok.IsEOG(id(s)) {
				t.Errorf("%s: IsEOG(%s) = false", tt.vocab, s)
			}
		}
		for _, s := range tt.notEOG {
			if tok.IsEOG(id(s)) {
				t.Errorf("%s: IsEOG(%s) = true", tt.vocab, s)
			}
		}
		if tok.EOS() != id(tt.eos) || tok.EOT() != id(tt.eot) {
			t.Errorf("%s: EOS %d EOT %d, want %s %s", tt.vocab, tok.EOS(), tok.EOT(), tt.eos, tt.eot)
		}
	}
}

func TestNewRejectsUnsupported(t *testing.T) {
	base := Config{Model: "gpt2", Pre: "qwen2", Tokens: []string{"a", "b", "ab"}, Merges: []string{"a b"}, BOS: -1, EOS: -1, EOT: -1, EOM: -1, PAD: -1}
	tests := []struct {
		name    string
		edit    func(*Config)
		want    error
		mention string
	}{
		{"llama spm", func(c *Config) { c.Model = "llama" }, ErrUnsupported, "gpt2"},
		{"unknown pre", func(c *Config) { c.Pre = "falcon" }, ErrUnsupported, "llama-bpe"},
		{"no tokens", func(c *Config) { c.Tokens = nil }, ErrInvalid, "no tokens"},
		{"types length", func(c *Config) { c.Types = []int32{1} }, ErrInvalid, "token types"},
		{"bad merge", func(c *Config) { c.Merges = []string{"ab"} }, ErrInvalid, "merge"},
		{"add bos without bos", func(c *Config) { c.AddBOS = true }, ErrInvalid, "BOS"},
	}
	for _, tt := range tests {
		c := base
		tt.edit(&c)
		_, err := New(c)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("%s: New() error = %v, want %v mentioning %q", tt.name, err, tt.want, tt.mention)
		}
	}
	tok, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("abab"); !slices.Equal(got, []int32{2, 2}) {
		t.Errorf("tiny vocab Encode(abab) = %v, want [2 2]", got)
	}
}

// TestDecoderStreaming feeds tokens one at a time: multi-byte characters
// split across tokens must come out whole, never as half a character.
func TestDecoderStreaming(t *testing.T) {
	texts := []string{
		"你好，世界！😀👨‍👩‍👧‍👦 今天天气不错。",
		"Emoji 🇨🇳🇺🇸 and ẞ, ﬁ, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
		"こんにちは、안녕하세요, Привет 🤖",
	}
	for _, vocab := range []struct{ name, pre string }{{"qwen2", "qwen2"}, {"llama3", "llama-bpe"}} {
		tok := realTokenizer(t, vocab.name, vocab.pre)
		split := 0
		for _, text := range texts {
			ids := tok.Encode(text)
			d := tok.NewDecoder()
			var sb strings.Builder
			for _, id := range ids {
				if !utf8.Valid(tok.Piece(id)) {
					split++
				}
				out := d.Next(id)
				if !utf8.ValidString(out) {
					t.Fatalf("%s: Next(%d) = %q, not valid UTF-8", vocab.name, id, out)
				}
				sb.WriteString(out)
			}
			sb.WriteString(d.Flush())
			if sb.String() != text {
				t.Errorf("%s: streamed %q, want %q", vocab.name, sb.String(), text)
			}
		}
		if split == 0 {
			t.Errorf("%s: no token split a character; the test proves nothing", vocab.name)
		}
	}
}

func TestDecoderInvalidBytes(t *testing.T) {
	tok := realTokenizer(t, "qwen2", "qwen2")
	byteTok := func(b byte) int32 {
		id, ok := tok.TokenID(string(byteToRune[b]))
		if !ok {
			t.Fatalf("no byte token for %#x", b)
		}
		return id
	}
	d := tok.NewDecoder()
	// 0xE4 0xBD starts 你 (E4 BD A0); hold it.
	if out := d.Next(byteTok(0xE4)); out != "" {
		t.Errorf("Next(E4) = %q, want held", out)
	}
	if out := d.Next(byteTok(0xBD)); out != "" {
		t.Errorf("Next(BD) = %q, want held", out)
	}
	// A space breaks the sequence: the two bytes can never be completed.
	if out := d.Next(byteTok(' ')); out != "\uFFFD " {
		t.Errorf("Next(space) = %q, want replacement then space", out)
	}
	d.Next(byteTok(0xF0))
	if out := d.Flush(); out != "\uFFFD" {
		t.Errorf("Flush() = %q, want replacement for the incomplete F0", out)
	}
	if out := d.Next(-5); out != "" {
		t.Errorf("Next(-5) = %q, want empty", out)
	}
}

// TestInvalidUTF8 follows llama.cpp: a byte that starts no well-formed
// sequence becomes U+FFFD, an overlong form becomes its code point.
func TestInvalidUTF8(t *testing.T) {
	tok := realTokenizer(t, "qwen2", "qwen2")
	for _, tt := range []struct{ in, same string }{
		{"x\xffy", "x\uFFFDy"},
		{"\xe4\xbd", "\uFFFD\uFFFD"},
		{"\xc1\x81BC", "ABC"},
		{"a\xc0\x80b", "a\x00b"},
	} {
		if diff := cmp.Diff(tok.Encode(tt.same), tok.Encode(tt.in)); diff != "" {
			t.Errorf("Encode(%q) differs from Encode(%q):\n%s", tt.in, tt.same, diff)
		}
	}
}

// FuzzEncodeDecode: decoding what was encoded gives back valid UTF-8 text
// exactly, any other input as llama.cpp reads it, and no input panics.
func FuzzEncodeDecode(f *testing.F) {
	for _, s := range []string{"", "hello world", "  \t\n\r\n x", "你好😀", "<|im_end|>x<|eot_id|>", "it's 123456", "\xff\xfe", "\xed\xa0\x80", "\xc1\x81x", "\xf4\x90\x80\x80", "a\u0300\u200d", "<think></think>"} {
		f.Add(s)
	}
	// Two vocabularies and their own pre-tokenizers keep each run cheap; the
	// golden tests cover smollm and gpt-2 splitting.
	toks := []*Tokenizer{realTokenizer(f, "qwen2", "qwen2"), realTokenizer(f, "llama3", "llama-bpe")}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range toks {
			for _, special := range []bool{false, true} {
				ids := tok.Tokenize(s, true, special)
				for _, id := range ids {
					if id < 0 || int(id) >= tok.VocabSize() {
						t.Fatalf("%s: id %d out of range", tok.Pre(), id)
					}
				}
				if tok.AddBOS() {
					ids = ids[1:]
				}
				got := tok.Decode(ids)
				if utf8.ValidString(s) && got != s {
					t.Fatalf("%s special=%v: Decode(Encode(%q)) = %q", tok.Pre(), special, s, got)
				}
				// Invalid input comes back as llama.cpp reads it (U+FFFD
				// for bad bytes, overlong forms shortened).
				if _, norm := decodeCodepoints(s, nil); !special && got != norm {
					t.Fatalf("%s: Decode(Encode(%q)) = %q, want %q", tok.Pre(), s, got, norm)
				}
			}
		}
	})
}

// TestConcurrentEncode: one Tokenizer shared by goroutines (run with -race).
func TestConcurrentEncode(t *testing.T) {
	tok := realTokenizer(t, "qwen2", "qwen2")
	texts := []string{"hello world", "你好，世界", "it's 2026!", "<|im_start|>user\nhi<|im_end|>"}
	want := make([][]int32, len(texts))
	for i, s := range texts {
		want[i] = tok.EncodeSpecial(s)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 200; n++ {
				i := (g + n) % len(texts)
				if got := tok.EncodeSpecial(texts[i]); !slices.Equal(got, want[i]) {
					t.Errorf("EncodeSpecial(%q) = %v, want %v", texts[i], got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}
