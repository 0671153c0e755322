package tokenizer

import (
	"sort"
	"unicode/utf8"
)

// Code point flags, numbered as llama.cpp's unicode_cpt_flags.
const (
	flagUndefined   = 0x0001
	flagNumber      = 0x0002 // \p{N}
	flagLetter      = 0x0004 // \p{L}
	flagSeparator   = 0x0008 // \p{Z}
	flagAccentMark  = 0x0010 // \p{M}
	flagPunctuation = 0x0020 // \p{P}
	flagSymbol      = 0x0040 // \p{S}
	flagControl     = 0x0080 // \p{C}
	flagWhitespace  = 0x0100 // \s
)

const maxCodepoints = 0x110000

// bmpFlags caches the flags of the Basic Multilingual Plane; code points
// above it are found by binary search in unicodeRanges.
var bmpFlags = func() *[0x10000]uint16 {
	var t [0x10000]uint16
	for i, r := range unicodeRanges {
		if r.start >= 0x10000 {
			break
		}
		end := uint32(0x10000)
		if i+1 < len(unicodeRanges) && unicodeRanges[i+1].start < end {
			end = unicodeRanges[i+1].start
		}
		for c := r.start; c < end; c++ {
			t[c] = r.flags
		}
	}
	for _, c := range unicodeWhitespace {
		if c < 0x10000 {
			t[c] |= flagWhitespace
		}
	}
	return &t
}()

// cptFlags returns llama.cpp's flags for a code point.
func cptFlags(c uint32) uint16 {
	if c < 0x10000 {
		return bmpFlags[c]
	}
	if c >= maxCodepoints {
		return flagUndefined
	}
	i := sort.Search(len(unicodeRanges), func(i int) bool { return unicodeRanges[i].start > c }) - 1
	f := unicodeRanges[i].flags
	for _, w := range unicodeWhitespace {
		if w == c {
			f |= flagWhitespace
		}
	}
	return f
}

// decodeCodepoints splits text into code points the way llama.cpp's
// unicode_cpts_from_utf8 does: a byte that does not start a well-formed
// sequence becomes U+FFFD and is skipped alone. It returns the code points
// and the text they spell (text itself when nothing was replaced or
// re-encoded).
func decodeCodepoints(text string, cpts []uint32) ([]uint32, string) {
	replaced := false
	for i := 0; i < len(text); {
		b := text[i]
		if b < 0x80 {
			cpts = append(cpts, uint32(b))
			i++
			continue
		}
		c, n := decodeLlama(text[i:])
		if n == 0 {
			cpts = append(cpts, utf8.RuneError)
			replaced = true
			i++
			continue
		}
		if n != cptLen(c) {
			// An overlong form: llama.cpp keeps the code point and
			// re-encodes it in its shortest form.
			replaced = true
		}
		cpts = append(cpts, c)
		i += n
	}
	if !replaced {
		return cpts, text
	}
	buf := make([]byte, 0, len(text)+8)
	for _, c := range cpts {
		buf = appendCodepoint(buf, c)
	}
	return cpts, string(buf)
}

// decodeLlama decodes one multi-byte sequence with llama.cpp's rules: lead
// byte and continuation bytes are checked, overlong forms and surrogates are
// not. It returns n == 0 for an invalid sequence.
func decodeLlama(s string) (uint32, int) {
	b0 := uint32(s[0])
	cont := func(k int) bool { return k < len(s) && s[k]&0xC0 == 0x80 }
	switch {
	case b0&0x40 == 0:
		return 0, 0
	case b0&0x20 == 0:
		if !cont(1) {
			return 0, 0
		}
		return (b0&0x1F)<<6 | uint32(s[1])&0x3F, 2
	case b0&0x10 == 0:
		if !cont(1) || !cont(2) {
			return 0, 0
		}
		return (b0&0x0F)<<12 | (uint32(s[1])&0x3F)<<6 | uint32(s[2])&0x3F, 3
	case b0&0x08 == 0:
		if !cont(1) || !cont(2) || !cont(3) {
			return 0, 0
		}
		c := (b0&0x07)<<18 | (uint32(s[1])&0x3F)<<12 | (uint32(s[2])&0x3F)<<6 | uint32(s[3])&0x3F
		if c >= maxCodepoints {
			return 0, 0 // llama.cpp would fail re-encoding it; treat as invalid
		}
		return c, 4
	}
	return 0, 0
}

// appendCodepoint encodes c as llama.cpp's unicode_cpt_to_utf8 does
// (surrogates included, unlike utf8.AppendRune).
func appendCodepoint(b []byte, c uint32) []byte {
	switch {
	case c <= 0x7F:
		return append(b, byte(c))
	case c <= 0x7FF:
		return append(b, 0xC0|byte(c>>6&0x1F), 0x80|byte(c&0x3F))
	case c <= 0xFFFF:
		return append(b, 0xE0|byte(c>>12&0x0F), 0x80|byte(c>>6&0x3F), 0x80|byte(c&0x3F))
	default:
		return append(b, 0xF0|byte(c>>18&0x07), 0x80|byte(c>>12&0x3F), 0x80|byte(c>>6&0x3F), 0x80|byte(c&0x3F))
	}
}

// cptLen is the number of bytes appendCodepoint writes for c.
func cptLen(c uint32) int {
	switch {
	case c <= 0x7F:
		return 1
	case c <= 0x7FF:
		return 2
	case c <= 0xFFFF:
		return 3
	}
	return 4
}

// byteToRune is GPT-2's byte-level map: every byte gets a printable code
// point (bytes_to_unicode in the original encoder).
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var fwd [256]rune
	back := make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			fwd[b] = rune(b)
		} else {
			fwd[b] = rune(256 + n)
			n++
		}
		back[fwd[b]] = byte(b)
	}
	return fwd, back
}()

// runeBytes is runeToByte as an array for the code points up to U+0143
// (the highest GPT-2 uses): byte + 1, 0 for a code point that stands for
// no byte. Building a tokenizer decodes every token with it.
var runeBytes = func() (t [0x144]uint16) {
	for b, r := range byteToRune {
		t[r] = uint16(b) + 1
	}
	return t
}()

// runeByte is the byte code point r stands for in the byte-level encoding.
func runeByte(r rune) (byte, bool) {
	if r < 0 || int(r) >= len(runeBytes) || runeBytes[r] == 0 {
		return 0, false
	}
	return byte(runeBytes[r] - 1), true
}

// byteEncode appends the byte-level encoding of s.
func byteEncode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = utf8.AppendRune(dst, byteToRune[s[i]])
	}
	return dst
}
