package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decoder turns a stream of generated tokens into text, never returning
// half a UTF-8 character: bytes of a character split across tokens are held
// until it is complete. Bytes that can never form a valid character come
// out as U+FFFD. A Decoder is not safe for concurrent use.
type Decoder struct {
	t       *Tokenizer
	pending []byte
}

// NewDecoder returns a streaming decoder.
func (t *Tokenizer) NewDecoder() *Decoder { return &Decoder{t: t} }

// Next adds one token and returns the text completed by it (often "").
func (d *Decoder) Next(id int32) string {
	d.pending = append(d.pending, d.t.Piece(id)...)
	cut := len(d.pending)
	// Hold back a trailing incomplete (but so far valid) sequence.
	for i := len(d.pending) - 1; i >= 0 && i >= len(d.pending)-utf8.UTFMax; i-- {
		b := d.pending[i]
		if b&0xC0 == 0x80 {
			continue // continuation byte: keep looking for the lead
		}
		if b >= 0xC0 && !utf8.FullRune(d.pending[i:]) {
			cut = i
		}
		break
	}
	out := strings.ToValidUTF8(string(d.pending[:cut]), "\uFFFD")
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return out
}

// Flush returns whatever is held back (as U+FFFD: it is an incomplete
// character) and resets the decoder.
func (d *Decoder) Flush() string {
	out := strings.ToValidUTF8(string(d.pending), "\uFFFD")
	d.pending = d.pending[:0]
	return out
}
