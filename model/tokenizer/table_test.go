package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// TestTablesMatchMaps checks the compact tables of real vocabularies
// against Go maps built the obvious way: every token text finds its id (a
// later duplicate winning), every merge of two tokens finds its first rank
// and the token of the merged text, texts and pairs that are absent are not
// found, and every piece is the token's decoded text.
func TestTablesMatchMaps(t *testing.T) {
	for _, tt := range []struct{ vocab, pre string }{{"qwen2", "qwen2"}, {"llama3", "llama-bpe"}} {
		t.Run(tt.vocab, func(t *testing.T) {
			v := realVocab(t, tt.vocab)
			tok := realTokenizer(t, tt.vocab, tt.pre)
			ids := make(map[string]int32, len(v.Tokens))
			for i, s := range v.Tokens {
				ids[s] = int32(i)
			}
			for i, s := range v.Tokens {
				if got := tok.TokenText(int32(i)); got != s {
					t.Fatalf("TokenText(%d) = %q, want %q", i, got, s)
				}
				if got, ok := tok.TokenID(s); !ok || got != ids[s] {
					t.Fatalf("TokenID(%q) = %d, %v; want %d", s, got, ok, ids[s])
				}
				if _, ok := ids[s+"\x00"]; !ok {
					if got, ok := tok.TokenID(s + "\x00"); ok {
						t.Fatalf("TokenID(%q) = %d, want none", s+"\x00", got)
					}
				}
			}
			type pair struct{ a, b int32 }
			type merge struct{ rank, result int32 }
			merges := map[pair]merge{}
			for i, m := range v.Merges {
				a, b, _ := strings.Cut(m[1:], " ")
				a = m[:1] + a
				ia, oka := ids[a]
				ib, okb := ids[b]
				if !oka || !okb {
					t.Fatalf("merge %d %q: the real vocabularies merge tokens", i, m)
				}
				if _, dup := merges[pair{ia, ib}]; dup {
					continue
				}
				res, ok := ids[a+b]
				if !ok {
					res = -1
				}
				merges[pair{ia, ib}] = merge{int32(i), res}
			}
			for p, want := range merges {
				rank, result, ok := tok.merges.find(p.a, p.b)
				if !ok || rank != want.rank || result != want.result {
					t.Fatalf("merge (%d, %d) = rank %d result %d %v; want %d %d", p.a, p.b, rank, result, ok, want.rank, want.result)
				}
				if _, in := merges[pair{p.b, p.a}]; !in {
					if rank, _, ok := tok.merges.find(p.b, p.a); ok {
						t.Fatalf("merge (%d, %d) found with rank %d, want none", p.b, p.a, rank)
					}
				}
			}
			for i := range v.Tokens {
				var want []byte
				switch typ := tok.TokenType(int32(i)); typ {
				case TypeNormal:
					for _, r := range v.Tokens[i] {
						want = append(want, runeToByte[r])
					}
				case TypeControl, TypeUserDefined, TypeUnknown:
					want = []byte(v.Tokens[i])
				}
				if got := tok.Piece(int32(i)); string(got) != string(want) {
					t.Fatalf("Piece(%d) = %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestDuplicatesAndOddMerges builds a vocabulary with duplicate tokens, a
// duplicate merge, a merge whose halves are not tokens and an odd token
// type, the cases llama.cpp settles by rule.
func TestDuplicatesAndOddMerges(t *testing.T) {
	var tokens []string
	for b := range 256 {
		tokens = append(tokens, string(byteToRune[b]))
	}
	ab := int32(len(tokens))
	tokens = append(tokens, "ab", "ab", "abc", "xyz", "<odd>")
	c := Config{
		Model: "gpt2", Pre: "qwen2", Tokens: tokens,
		// "a b" twice: the first rank (0) wins. "xy z": "xy" is no token,
		// so "xyz" is reached through the merge by text at rank 3.
		Merges: []string{"a b", "a b", "ab c", "xy z", "x y"},
		BOS:    -1, EOS: -1, EOT: -1, EOM: -1, PAD: -1,
	}
	c.Types = make([]int32, len(tokens))
	for i := range c.Types {
		c.Types[i] = int32(TypeNormal)
	}
	c.Types[len(tokens)-1] = 1000 // not a llama.cpp type: undefined
	tok, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := tok.TokenID("ab"); !ok || id != ab+1 {
		t.Errorf("TokenID(ab) = %d, %v; want the later duplicate %d", id, ok, ab+1)
	}
	a, _ := tok.TokenID("a")
	b, _ := tok.TokenID("b")
	if rank, result, ok := tok.merges.find(a, b); !ok || rank != 0 || result != ab+1 {
		t.Errorf("merge a b: rank %d result %d %v; want 0 %d", rank, result, ok, ab+1)
	}
	for _, tc := range []struct {
		text string
		want []string
	}{{"abc", []string{"abc"}}, {"xyz", []string{"xyz"}}, {"ab", []string{"ab"}}, {"ba", []string{"b", "a"}}} {
		var got []string
		for _, id := range tok.Encode(tc.text) {
			got = append(got, tok.TokenText(id))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	odd := int32(len(tokens) - 1)
	if typ := tok.TokenType(odd); typ != TypeUndefined {
		t.Errorf("type of a token of type 1000: %d, want undefined", typ)
	}
	if p := tok.Piece(odd); len(p) != 0 {
		t.Errorf("Piece of an undefined token = %q, want nothing", p)
	}
	if tok.TokenText(-1) != "" || tok.TokenText(odd+1) != "" || tok.Piece(odd+1) != nil || tok.Piece(-1) != nil {
		t.Errorf("out of range: %q %q %q %q", tok.TokenText(-1), tok.TokenText(odd+1), tok.Piece(odd+1), tok.Piece(-1))
	}
}

func TestRuneByte(t *testing.T) {
	for r := rune(-1); r < 0x200; r++ {
		b, ok := runeByte(r)
		wb, wok := runeToByte[r]
		if b != wb || ok != wok {
			t.Errorf("runeByte(%U) = %d, %v; want %d, %v", r, b, ok, wb, wok)
		}
	}
}
