package tokenizer

import "fmt"

// splitter cuts the code points of one text fragment into pre-tokens and
// appends each pre-token's length in code points to out.
type splitter func(cpts []uint32, out []int) []int

// preTokenizers maps the tokenizer.ggml.pre names chatloop supports (llama.cpp's
// names and aliases) to hand-written splitters equivalent to llama.cpp's
// unicode_regex_split for that pre-tokenizer. They are written by hand
// because Go's regexp has no look-ahead (\s+(?!\S)), and a direct scan is
// several times faster than a backtracking regexp engine.
var preTokenizers = map[string]splitter{
	"qwen2":            splitQwen2,
	"deepseek-r1-qwen": splitQwen2,
	"llama-bpe":        splitLlama3,
	"llama3":           splitLlama3,
	"llama-v3":         splitLlama3,
	"smollm":           splitSmolLM,
	"gpt-2":            splitGPT2,
	"gpt2":             splitGPT2,
}

func lookupPre(name string) (splitter, error) {
	if s, ok := preTokenizers[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: tokenizer.ggml.pre %q (supported: %s)", ErrUnsupported, name, supportedPre)
}

const supportedPre = "qwen2, deepseek-r1-qwen, llama-bpe, llama3, llama-v3, smollm, gpt-2, gpt2"

// cursor gives the flags and code points of one fragment, with zero flags
// and outOfRange past either end, as llama.cpp's _get_flags/_get_cpt do.
type cursor struct {
	cpts []uint32
}

const outOfRange = 0xFFFFFFFF

func (c cursor) cpt(pos int) uint32 {
	if pos < len(c.cpts) {
		return c.cpts[pos]
	}
	return outOfRange
}

func (c cursor) flags(pos int) uint16 {
	if pos < len(c.cpts) {
		return cptFlags(c.cpts[pos])
	}
	return 0
}

func isLetter(f uint16) bool { return f&flagLetter != 0 }
func isNumber(f uint16) bool { return f&flagNumber != 0 }
func isSpace(f uint16) bool  { return f&flagWhitespace != 0 }

func asciiLower(c uint32) uint32 {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// contraction reports the length of (?i:'s|'t|'re|'ve|'m|'ll|'d) at pos, or
// 0. With fold false the match is case-sensitive (GPT-2's pattern).
func contraction(c cursor, pos int, fold bool) int {
	end := len(c.cpts)
	if c.cpts[pos] != '\'' || pos+1 >= end {
		return 0
	}
	low := func(x uint32) uint32 {
		if fold {
			return asciiLower(x)
		}
		return x
	}
	n1 := low(c.cpt(pos + 1))
	if n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd' {
		return 2
	}
	if pos+2 < end {
		n2 := low(c.cpt(pos + 2))
		if (n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l') {
			return 3
		}
	}
	return 0
}

// splitLlama3 is llama.cpp's unicode_regex_split_custom_llama3, for
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
func splitLlama3(cpts []uint32, out []int) []int { return splitLlamaLike(cpts, out, 3) }

// splitQwen2 is the same pattern with single digits (\p{N} for \p{N}{1,3}),
// llama.cpp's unicode_regex_split_custom_qwen2.
func splitQwen2(cpts []uint32, out []int) []int { return splitLlamaLike(cpts, out, 1) }

func splitLlamaLike(cpts []uint32, out []int, maxDigits int) []int {
	c := cursor{cpts}
	end := len(cpts)
	prev := 0
	add := func(e int) int {
		n := e - prev
		if n > 0 {
			out = append(out, n)
		}
		prev = e
		return n
	}
	for pos := 0; pos < end; {
		cpt := cpts[pos]
		flags := cptFlags(cpt)

		if n := contraction(c, pos, true); n > 0 {
			pos += add(pos + n)
			continue
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if !(cpt == '\r' || cpt == '\n' || isNumber(flags)) {
			if isLetter(flags) || isLetter(c.flags(pos+1)) {
				pos++
				for isLetter(c.flags(pos)) {
					pos++
				}
				add(pos)
				continue
			}
		}
		// \p{N}{1,maxDigits}
		if isNumber(flags) {
			ini := pos
			for isNumber(c.flags(pos)) {
				pos++
				if pos-ini >= maxDigits {
					add(pos)
					ini = pos
				}
			}
			add(pos)
			continue
		}
		// <space>?[^\s\p{L}\p{N}]+[\r\n]*
		flags2 := flags
		if cpt == ' ' {
			flags2 = c.flags(pos + 1)
		}
		if flags2&(flagWhitespace|flagLetter|flagNumber) == 0 && flags != 0 {
			if cpt == ' ' {
				pos++
			}
			for flags2&(flagWhitespace|flagLetter|flagNumber) == 0 && flags2 != 0 {
				pos++
				flags2 = c.flags(pos)
			}
			for cp := c.cpt(pos); cp == '\r' || cp == '\n'; cp = c.cpt(pos) {
				pos++
			}
			add(pos)
			continue
		}

		numWS, lastRN := 0, 0
		for isSpace(c.flags(pos + numWS)) {
			if cp := c.cpt(pos + numWS); cp == '\r' || cp == '\n' {
				lastRN = pos + numWS + 1
			}
			numWS++
		}
		// \s*[\r\n]+
		if lastRN > 0 {
			pos = lastRN
			add(pos)
			continue
		}
		// \s+(?!\S)
		if numWS > 1 && c.cpt(pos+numWS) != outOfRange {
			pos += numWS - 1
			add(pos)
			continue
		}
		// \s+
		if numWS > 0 {
			pos += numWS
			add(pos)
			continue
		}
		// no match
		pos++
		add(pos)
	}
	return out
}

// splitGPT2 is llama.cpp's unicode_regex_split_custom_gpt2, for
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
func splitGPT2(cpts []uint32, out []int) []int {
	c := cursor{cpts}
	end := len(cpts)
	prev := 0
	add := func(e int) int {
		n := e - prev
		if n > 0 {
			out = append(out, n)
		}
		prev = e
		return n
	}
	for pos := 0; pos < end; {
		cpt := cpts[pos]
		flags := cptFlags(cpt)

		if n := contraction(c, pos, false); n > 0 {
			pos += add(pos + n)
			continue
		}
		flags2 := flags
		if cpt == ' ' {
			flags2 = c.flags(pos + 1)
		}
		// <space>?\p{L}+
		if isLetter(flags2) {
			if cpt == ' ' {
				pos++
			}
			for isLetter(flags2) {
				pos++
				flags2 = c.flags(pos)
			}
			add(pos)
			continue
		}
		// <space>?\p{N}+
		if isNumber(flags2) {
			if cpt == ' ' {
				pos++
			}
			for isNumber(flags2) {
				pos++
				flags2 = c.flags(pos)
			}
			add(pos)
			continue
		}
		// <space>?[^\s\p{L}\p{N}]+
		if flags2&(flagWhitespace|flagLetter|flagNumber) == 0 && flags2 != 0 {
			if cpt == ' ' {
				pos++
			}
			for flags2&(flagWhitespace|flagLetter|flagNumber) == 0 && flags2 != 0 {
				pos++
				flags2 = c.flags(pos)
			}
			add(pos)
			continue
		}
		numWS := 0
		for isSpace(c.flags(pos + numWS)) {
			numWS++
		}
		// \s+(?!\S)
		if numWS > 1 && c.cpt(pos+numWS) != outOfRange {
			pos += numWS - 1
			add(pos)
			continue
		}
		if numWS > 0 {
			pos += numWS
			add(pos)
			continue
		}
		pos++
		add(pos)
	}
	return out
}

// splitSmolLM first isolates every single \p{N} code point (llama.cpp runs
// the regex \p{N} through std::regex, keeping the text between matches as
// pieces), then applies the GPT-2 splitter inside each piece.
func splitSmolLM(cpts []uint32, out []int) []int {
	start := 0
	flush := func(e int) {
		if e > start {
			out = splitGPT2(cpts[start:e], out)
		}
		start = e
	}
	for i, cp := range cpts {
		if isNumber(cptFlags(cp)) {
			flush(i)
			out = append(out, 1)
			start = i + 1
		}
	}
	flush(len(cpts))
	return out
}
