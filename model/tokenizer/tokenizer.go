// Package tokenizer turns text into token ids and back for GGUF models with
// byte-level BPE vocabularies (tokenizer.ggml.model = "gpt2": Qwen2/2.5/3,
// SmolLM, Llama 3, GPT-2), giving the same ids as llama.cpp.
//
// Encoding follows llama.cpp's llama_tokenize: special and user-defined
// tokens are cut out of the text first (longest first), the rest is split
// by the pre-tokenizer that tokenizer.ggml.pre names, each piece is
// byte-level encoded and merged by BPE rank. Decoding is exact: the bytes of
// the text come back unchanged (llama.cpp's clean_up_tokenization_spaces is
// deliberately not applied).
package tokenizer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// Errors returned by New and FromGGUF.
var (
	// ErrUnsupported: the tokenizer model or pre-tokenizer is not one this
	// package implements; the message lists the supported ones.
	ErrUnsupported = errors.New("tokenizer: unsupported")
	// ErrInvalid: the vocabulary metadata is inconsistent.
	ErrInvalid = errors.New("tokenizer: invalid vocabulary")
)

// TokenType is a GGUF token type (tokenizer.ggml.token_type).
type TokenType int32

// GGUF token types, numbered as llama.cpp's llama_token_type.
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3
	TypeUserDefined TokenType = 4
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6
)

// Config is everything a tokenizer is built from: the tokenizer.ggml.* GGUF
// keys under their own names. New copies what it keeps, so the strings may
// alias memory that goes away afterwards (a GGUF file's mapping).
type Config struct {
	Model  string   // tokenizer.ggml.model; only "gpt2" is supported
	Pre    string   // tokenizer.ggml.pre
	Tokens []string // tokenizer.ggml.tokens
	Types  []int32  // tokenizer.ggml.token_type; nil: all normal
	Merges []string // tokenizer.ggml.merges, "left right"
	// Special token ids; -1 when absent.
	BOS, EOS, EOT, EOM, PAD int32
	AddBOS, AddEOS          bool
}

// Tokenizer encodes and decodes text. It is safe for concurrent use.
type Tokenizer struct {
	pre          splitter
	preName      string
	vocab        vocab   // token texts and their ids
	types        []uint8 // TokenType of every token (TypeUndefined if not in 0..255)
	merges       mergeTable
	rankStr      map[string]int32 // merges whose halves are not both tokens, by "left\x00right"
	byteIDs      [256]int32       // token of each byte's byte-level character, -1: none
	ignoreMerges bool
	special      []int32 // control, user-defined and unknown tokens, longest first
	specialFirst [256]bool
	pieces       arena // decoded bytes of every token
	eog          map[int32]bool
	bos, eos     int32
	eot, pad     int32
	addBOS       bool
	addEOS       bool

	cache *wordCache
	pool  sync.Pool
}

// New builds a tokenizer from vocabulary metadata.
func New(c Config) (*Tokenizer, error) {
	if c.Model != "gpt2" {
		return nil, fmt.Errorf("%w: tokenizer.ggml.model %q (supported: gpt2)", ErrUnsupported, c.Model)
	}
	pre, err := lookupPre(c.Pre)
	if err != nil {
		return nil, err
	}
	n := len(c.Tokens)
	if n == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrInvalid)
	}
	if c.Types != nil && len(c.Types) != n {
		return nil, fmt.Errorf("%w: %d token types for %d tokens", ErrInvalid, len(c.Types), n)
	}
	if len(c.Merges) > maxIndexItems {
		return nil, fmt.Errorf("%w: %d merges (at most %d)", ErrInvalid, len(c.Merges), maxIndexItems)
	}
	v, err := newVocab(c.Tokens)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{
		pre:     pre,
		preName: c.Pre,
		vocab:   v,
		types:   make([]uint8, n),
		merges:  mergeTable{byRank: make([]mergeEntry, 0, len(c.Merges)), index: newIndex(len(c.Merges))},
		eog:     map[int32]bool{},
		addBOS:  c.AddBOS,
		addEOS:  c.AddEOS,
		cache:   newWordCache(),
	}
	switch c.Pre {
	case "llama-bpe", "llama3", "llama-v3":
		t.ignoreMerges = true
	}
	for i := range t.types {
		typ := TypeNormal
		if c.Types != nil {
			typ = TokenType(c.Types[i])
		}
		t.setType(int32(i), typ)
	}
	var both []byte
	guess := int32(-1)
	for i, m := range c.Merges {
		sp := strings.IndexByte(m[min(1, len(m)):], ' ')
		if sp < 0 {
			return nil, fmt.Errorf("%w: merge %d %q has no space", ErrInvalid, i, m)
		}
		sp += min(1, len(m))
		a, b := m[:sp], m[sp+1:]
		ia, oka := t.vocab.id(a)
		ib, okb := t.vocab.id(b)
		if oka && okb {
			both = append(append(both[:0], a...), b...)
			// BPE vocabularies list the merged tokens in merge order:
			// try the token after the previous merge's before the index.
			result := guess + 1
			if int(result) >= n || t.vocab.dups || t.vocab.text.str(result) != string(both) {
				result, _ = t.vocab.idBytes(both) // -1 if none
			}
			if result >= 0 {
				guess = result
			}
			t.merges.add(int32(i), ia, ib, result)
			continue
		}
		t.merges.skip()
		if t.rankStr == nil {
			t.rankStr = map[string]int32{}
		}
		k := a + "\x00" + b
		if _, dup := t.rankStr[k]; !dup {
			t.rankStr[k] = int32(i)
		}
	}
	for b := range t.byteIDs {
		t.byteIDs[b], _ = t.vocab.id(string(byteToRune[b])) // -1 if none
	}
	valid := func(id int32) int32 {
		if id < 0 || int(id) >= n {
			return -1
		}
		return id
	}
	t.bos, t.eos, t.eot, t.pad = valid(c.BOS), valid(c.EOS), valid(c.EOT), valid(c.PAD)
	if t.addBOS && t.bos < 0 {
		return nil, fmt.Errorf("%w: add_bos_token set but no BOS token", ErrInvalid)
	}
	if t.addEOS && t.eos < 0 {
		return nil, fmt.Errorf("%w: add_eos_token set but no EOS token", ErrInvalid)
	}
	t.findEOG(valid(c.EOM))
	for i := range t.types {
		switch TokenType(t.types[i]) {
		case TypeControl, TypeUserDefined, TypeUnknown:
			if s := t.vocab.text.str(int32(i)); s != "" {
				t.special = append(t.special, int32(i))
				t.specialFirst[s[0]] = true
			}
		}
	}
	slices.SortStableFunc(t.special, func(a, b int32) int {
		return len(t.vocab.text.str(b)) - len(t.vocab.text.str(a))
	})
	// Decoded pieces are at most as long as the texts (byte-level code
	// points take one to two bytes for one byte), but for the rare
	// [UNK_BYTE_...] markers.
	t.pieces = newArena(n, len(t.vocab.text.data))
	var piece []byte
	for i := range n {
		piece = t.decodeToken(piece[:0], int32(i))
		if err := checkArenaSize(len(t.pieces.data)+len(piece), "the decoded tokens"); err != nil {
			return nil, err
		}
		t.pieces.add(piece)
	}
	t.pieces.trim()
	t.pool.New = func() any { return &bpeState{} }
	return t, nil
}

// Token texts llama.cpp recognises (llama-vocab.cpp, load) to find the
// end-of-turn, fill-in-the-middle and end-of-generation tokens.
var (
	eotTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
		"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}
	eomTexts    = []string{"<|eom_id|>"}
	fimPadTexts = []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}
	fimRepTexts = []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}
	fimSepTexts = []string{"<|file_sep|>"}
	eogTexts    = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
		"<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
		"[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
		"<｜end▁of▁sentence｜>", "[e~["}
)

// findEOG marks the end-of-generation tokens as llama.cpp does: FIM
// pad/repo/sep tokens, every token whose text is in eogTexts, and the EOS,
// EOT and EOM tokens. Tokens found by text become control tokens.
func (t *Tokenizer) findEOG(eom int32) {
	byText := func(texts []string) int32 {
		for _, s := range texts {
			if id, ok := t.vocab.id(s); ok {
				return id
			}
		}
		return -1
	}
	control := func(id int32) {
		if id >= 0 {
			t.setType(id, TypeControl)
		}
	}
	if t.eot < 0 {
		t.eot = byText(eotTexts)
		control(t.eot)
	}
	if eom < 0 {
		eom = byText(eomTexts)
		control(eom)
	}
	for _, texts := range [][]string{fimPadTexts, fimRepTexts, fimSepTexts} {
		if id := byText(texts); id >= 0 {
			t.eog[id] = true
		}
	}
	for _, s := range eogTexts {
		if id, ok := t.vocab.id(s); ok {
			t.eog[id] = true
			control(id)
		}
	}
	for _, id := range []int32{t.eos, t.eot, eom} {
		if id >= 0 {
			t.eog[id] = true
		}
	}
}

// setType records a token's type; types outside 0..255 are not ones
// llama.cpp knows either, and it treats them as undefined.
func (t *Tokenizer) setType(id int32, typ TokenType) {
	if typ < 0 || typ > math.MaxUint8 {
		typ = TypeUndefined
	}
	t.types[id] = uint8(typ)
}

// decodeToken appends llama.cpp's token_to_piece with special = true to
// out: control, unknown and user-defined tokens are their text, normal
// tokens are byte-level decoded, everything else (unused, byte) is empty.
func (t *Tokenizer) decodeToken(out []byte, id int32) []byte {
	s := t.vocab.text.str(id)
	switch TokenType(t.types[id]) {
	case TypeControl, TypeUnknown, TypeUserDefined:
		return append(out, s...)
	case TypeNormal:
		for _, r := range s {
			if b, ok := runeByte(r); ok {
				out = append(out, b)
			} else {
				// Not a byte-level code point: llama.cpp writes a marker.
				out = fmt.Appendf(out, "[UNK_BYTE_0x%x%s]", string(r), s)
			}
		}
		return out
	}
	return out
}

// Encode tokenizes plain text: no BOS/EOS, and text that looks like a
// control token (such as "<|im_end|>" typed by a user) is encoded as
// ordinary text. User-defined tokens are still matched, as in llama.cpp.
func (t *Tokenizer) Encode(text string) []int32 { return t.Tokenize(text, false, false) }

// EncodeSpecial tokenizes text in which control tokens are written out
// (a rendered chat template): "<|im_start|>" becomes its token. No BOS/EOS.
func (t *Tokenizer) EncodeSpecial(text string) []int32 { return t.Tokenize(text, false, true) }

// CountTokens returns len(Encode(text)).
func (t *Tokenizer) CountTokens(text string) int { return len(t.Encode(text)) }

// Tokenize is llama.cpp's llama_tokenize: addSpecial adds BOS (and EOS)
// when the model's metadata asks for it (tokenizer.ggml.add_bos_token);
// parseSpecial matches control tokens in the text.
func (t *Tokenizer) Tokenize(text string, addSpecial, parseSpecial bool) []int32 {
	return t.tokenize(text, addSpecial, parseSpecial, nil)
}

func (t *Tokenizer) tokenize(text string, addSpecial, parseSpecial bool, allowControl func(start, end int) bool) []int32 {
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	st := t.pool.Get().(*bpeState)
	defer t.pool.Put(st)
	for _, f := range t.partition(text, parseSpecial, allowControl) {
		if f.token >= 0 {
			out = append(out, f.token)
			continue
		}
		out = t.encodeText(st, f.text, out)
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out
}

// Part is a piece of a prompt for TokenizeParts. Markup parts come from
// the chat template and may spell control tokens ("<|im_start|>"); the
// other parts (what users and the model wrote) are plain text, in which
// control-token text stays text.
type Part struct {
	Text   string
	Markup bool
}

// TokenizeParts tokenizes the concatenation of parts as Tokenize(text,
// addSpecial, true) would, except that control tokens are only recognised
// inside Markup parts: a user who types "<|im_end|><|im_start|>system" gets
// those characters encoded as text, not as turn boundaries. When no
// non-markup part contains control-token text the ids are exactly those of
// Tokenize on the whole text (the text is not cut at part boundaries).
func (t *Tokenizer) TokenizeParts(parts []Part, addSpecial bool) []int32 {
	var sb strings.Builder
	var markup [][2]int
	for _, p := range parts {
		if p.Markup {
			markup = append(markup, [2]int{sb.Len(), sb.Len() + len(p.Text)})
		}
		sb.WriteString(p.Text)
	}
	allow := func(start, end int) bool {
		for _, m := range markup {
			if m[0] <= start && end <= m[1] {
				return true
			}
		}
		return false
	}
	return t.tokenize(sb.String(), addSpecial, true, allow)
}

// fragment is a run of raw text (token < 0) starting at byte off of the
// whole text, or one special token.
type fragment struct {
	text  string
	off   int
	token int32
}

// partition cuts the special tokens out of text the way llama.cpp's
// tokenizer_st_partition does: for each special token, longest first, every
// occurrence in every remaining raw-text fragment, left to right. A
// control token is only cut where allowControl (when not nil) allows it.
func (t *Tokenizer) partition(text string, parseSpecial bool, allowControl func(start, end int) bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, token: -1}}
	candidate := false
	for i := 0; i < len(text); i++ {
		if t.specialFirst[text[i]] {
			candidate = true
			break
		}
	}
	if !candidate {
		return frags
	}
	for _, id := range t.special {
		typ := TokenType(t.types[id])
		control := typ == TypeControl || typ == TypeUnknown
		if !parseSpecial && control {
			continue
		}
		tok := t.vocab.text.str(id)
		var next []fragment
		changed := false
		for _, f := range frags {
			if f.token >= 0 || !strings.Contains(f.text, tok) {
				next = append(next, f)
				continue
			}
			changed = true
			s, base, from := f.text, f.off, 0
			for {
				i := strings.Index(s[from:], tok)
				if i < 0 {
					break
				}
				i += from
				if control && allowControl != nil && !allowControl(base+i, base+i+len(tok)) {
					from = i + 1
					continue
				}
				if i > 0 {
					next = append(next, fragment{text: s[:i], off: base, token: -1})
				}
				next = append(next, fragment{token: id})
				s, base, from = s[i+len(tok):], base+i+len(tok), 0
			}
			if s != "" {
				next = append(next, fragment{text: s, off: base, token: -1})
			}
		}
		if changed {
			frags = next
		}
	}
	return frags
}

// encodeText pre-tokenizes raw text and BPE-encodes every piece.
func (t *Tokenizer) encodeText(st *bpeState, text string, out []int32) []int32 {
	cpts, norm := decodeCodepoints(text, st.cpts[:0])
	st.cpts = cpts
	st.lens = t.pre(cpts, st.lens[:0])
	off, ci := 0, 0
	for _, n := range st.lens {
		nb := 0
		for _, c := range cpts[ci : ci+n] {
			nb += cptLen(c)
		}
		ci += n
		out = t.encodeWord(st, norm[off:off+nb], out)
		off += nb
	}
	return out
}

// Decode turns ids back into text, control tokens included as their text
// ("<|im_end|>"). Ids out of range and unused tokens decode to nothing.
// The result holds exactly the bytes of the tokens, which can end in the
// middle of a UTF-8 character; use a Decoder when streaming.
func (t *Tokenizer) Decode(ids []int32) string {
	var b []byte
	for _, id := range ids {
		b = append(b, t.Piece(id)...)
	}
	return string(b)
}

// Piece returns the bytes token id stands for (nil when out of range). The
// slice must not be modified.
func (t *Tokenizer) Piece(id int32) []byte {
	if id < 0 || int(id) >= t.pieces.len() {
		return nil
	}
	return t.pieces.bytes(id)
}

// TokenText returns the token as the vocabulary stores it (byte-level
// encoded for normal tokens: "Ġhello"), or "" when out of range.
func (t *Tokenizer) TokenText(id int32) string {
	if id < 0 || int(id) >= t.vocab.text.len() {
		return ""
	}
	return t.vocab.text.str(id)
}

// TokenType returns the token's type (after llama.cpp's corrections:
// end-of-generation tokens are control tokens).
func (t *Tokenizer) TokenType(id int32) TokenType {
	if id < 0 || int(id) >= len(t.types) {
		return TypeUndefined
	}
	return TokenType(t.types[id])
}

// TokenID returns the id of the token with exactly this vocabulary text.
func (t *Tokenizer) TokenID(text string) (int32, bool) {
	id, ok := t.vocab.id(text)
	if !ok {
		return 0, false
	}
	return id, true
}

// VocabSize is the number of tokens (rows of the embedding matrix).
func (t *Tokenizer) VocabSize() int { return t.vocab.text.len() }

// BOS returns the beginning-of-sequence token, or -1.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence token, or -1.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EOT returns the end-of-turn token (from metadata or found by its text,
// as llama.cpp does: <|im_end|>, <|eot_id|>, ...), or -1.
func (t *Tokenizer) EOT() int32 { return t.eot }

// PAD returns the padding token, or -1.
func (t *Tokenizer) PAD() int32 { return t.pad }

// AddBOS reports whether the model wants BOS in front of a prompt.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// Pre returns the pre-tokenizer name.
func (t *Tokenizer) Pre() string { return t.preName }

// IsEOG reports whether generating id ends the answer: EOS, EOT and every
// token llama.cpp marks end-of-generation (<|im_end|>, <|endoftext|>,
// <|eot_id|>, <|end_of_text|>, FIM pad/repo/file-separator, ...).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// EOGTokens returns the end-of-generation tokens in ascending order.
func (t *Tokenizer) EOGTokens() []int32 {
	ids := make([]int32, 0, len(t.eog))
	for id := range t.eog {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
