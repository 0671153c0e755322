package vocabdata

import (
	"strings"
	"testing"
)

// recorder is a MetadataWriter that keeps what it was given.
type recorder map[string]any

func (r recorder) SetString(k, v string)           { r[k] = v }
func (r recorder) SetStrings(k string, v []string) { r[k] = v }
func (r recorder) SetInt32s(k string, v []int32)   { r[k] = v }
func (r recorder) SetUint32(k string, v uint32)    { r[k] = v }
func (r recorder) SetBool(k string, v bool)        { r[k] = v }

func TestVocabularies(t *testing.T) {
	tests := []struct {
		name           string
		load           func() (*Vocab, error)
		pre            string
		n, merges      int
		bos, eos, eot  string
		addBOS         bool
		templateMarker string
	}{
		{"qwen2", Qwen2, "qwen2", 151936, 151387, "<|endoftext|>", "<|im_end|>", "", false, "You are Qwen, created by Alibaba Cloud."},
		{"llama3", Llama3, "llama-bpe", 128256, 280147, "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", true, "<|start_header_id|>"},
	}
	for _, tt := range tests {
		v, err := tt.load()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if v.Model != "gpt2" || v.Pre != tt.pre || len(v.Tokens) != tt.n || len(v.TokenTypes) != tt.n || len(v.Merges) != tt.merges {
			t.Errorf("%s: model %q pre %q, %d tokens, %d types, %d merges; want gpt2 %q %d %d", tt.name, v.Model, v.Pre, len(v.Tokens), len(v.TokenTypes), len(v.Merges), tt.pre, tt.n, tt.merges)
		}
		if v.Tokens[v.BOS] != tt.bos || v.Tokens[v.EOS] != tt.eos || (tt.eot != "" && v.Tokens[v.EOT] != tt.eot) || (tt.eot == "" && v.EOT != -1) {
			t.Errorf("%s: BOS %d EOS %d EOT %d", tt.name, v.BOS, v.EOS, v.EOT)
		}
		if v.AddBOS != tt.addBOS || !strings.Contains(v.ChatTemplate, tt.templateMarker) {
			t.Errorf("%s: AddBOS %v, template %.60q", tt.name, v.AddBOS, v.ChatTemplate)
		}
		counts := map[int32]int{}
		for _, typ := range v.TokenTypes {
			counts[typ]++
		}
		if counts[TypeControl] == 0 || counts[TypeNormal] < tt.n/2 {
			t.Errorf("%s: token type counts %v", tt.name, counts)
		}
		// Every merge is two tokens, and its result is a token too.
		ids := map[string]bool{}
		for _, s := range v.Tokens {
			ids[s] = true
		}
		for _, m := range v.Merges[:1000] {
			a, b, ok := strings.Cut(m, " ")
			if !ok || !ids[a] || !ids[b] || !ids[a+b] {
				t.Fatalf("%s: merge %q is not made of tokens", tt.name, m)
			}
		}
	}
	q, _ := Qwen2()
	if q.Tokens[151643] != "<|endoftext|>" || q.TokenTypes[151657] != TypeUserDefined || q.Tokens[151665] != "[PAD151665]" || q.TokenTypes[151935] != TypeUnused {
		t.Errorf("qwen2 added/padding tokens wrong: %q %d %q %d", q.Tokens[151643], q.TokenTypes[151657], q.Tokens[151665], q.TokenTypes[151935])
	}
}

func TestCopiesAreIndependent(t *testing.T) {
	a, _ := Qwen2()
	a.Tokens[0] = "changed"
	b, _ := Qwen2()
	if b.Tokens[0] == "changed" {
		t.Error("a caller's change leaked into the shared vocabulary")
	}
}

func TestWriteGGUF(t *testing.T) {
	v, err := Llama3()
	if err != nil {
		t.Fatal(err)
	}
	r := recorder{}
	if err := v.WriteGGUF(r); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "llama-bpe",
		"tokenizer.ggml.bos_token_id": uint32(128000), "tokenizer.ggml.eos_token_id": uint32(128001),
		"tokenizer.ggml.eot_token_id": uint32(128009), "tokenizer.ggml.add_bos_token": true,
	}
	for k, w := range want {
		if r[k] != w {
			t.Errorf("%s = %v, want %v", k, r[k], w)
		}
	}
	if _, ok := r["tokenizer.ggml.padding_token_id"]; ok {
		t.Error("padding_token_id written for a vocabulary without one")
	}
	if len(r["tokenizer.ggml.tokens"].([]string)) != 128256 || len(r["tokenizer.ggml.merges"].([]string)) != 280147 || r["tokenizer.chat_template"] != v.ChatTemplate {
		t.Error("tokens, merges or chat template not written in full")
	}
	v.TokenTypes = v.TokenTypes[:10]
	r = recorder{}
	if err := v.WriteGGUF(r); err == nil || len(r) != 0 {
		t.Errorf("inconsistent vocabulary: err %v, %d keys written", err, len(r))
	}
}
