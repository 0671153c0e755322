package console

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxLine is the longest piped line handed on whole. A longer one is cut
// here (the rest read and dropped, so memory stays bounded), and the core
// refuses it as it refuses any message over max_input_chars; the lines
// after it are read as usual.
const MaxLine = 4 << 20

// readLine reads one line without its newline, at most MaxLine bytes of it
// (cut at a UTF-8 boundary). It returns io.EOF only when nothing was read.
func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		chunk, err := br.ReadSlice('\n')
		if room := MaxLine - b.Len(); room > 0 {
			b.Write(chunk[:min(len(chunk), room)])
		}
		switch {
		case err == nil:
			return cutLine(b.String()), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && b.Len() > 0:
			return cutLine(b.String()), nil
		default:
			return "", err
		}
	}
}

// cutLine drops the line ending and a UTF-8 sequence cut in half at
// MaxLine.
func cutLine(s string) string {
	s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	for len(s) > 0 && !utf8.ValidString(s[max(0, len(s)-utf8.UTFMax):]) {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// termState strips what could drive the terminal from model output:
// escape sequences (CSI, OSC, DCS and the like, C0 and C1 forms, even
// split across tokens), carriage returns, NUL, form feeds, bells, DEL, C1
// controls and bidirectional overrides. Newlines and tabs stay. One
// termState follows one stream of text.
type termState struct {
	mode   int // one of the st* states
	strLen int // runes swallowed in the current control string
}

const (
	stText = iota
	stEsc
	stCSI
	stString    // OSC, DCS, SOS, PM or APC body, until BEL or ST
	stStringEsc // ESC inside a control string: ST if '\\' follows
)

// maxControlString bounds a control string swallowed without its end, so
// that an unterminated one cannot hide the rest of the answer.
const maxControlString = 256

// clean returns text with every control removed, carrying the state of an
// unfinished sequence to the next call.
func (s *termState) clean(text string) string {
	var b strings.Builder
	for _, r := range text {
		switch s.mode {
		case stEsc:
			switch r {
			case '[':
				s.mode = stCSI
			case ']', 'P', 'X', '^', '_':
				s.mode, s.strLen = stString, 0
			default:
				s.mode = stText // a two-byte escape: both dropped
			}
			continue
		case stCSI:
			switch {
			case r >= 0x20 && r <= 0x3f: // parameters and intermediates
				continue
			case r >= 0x40 && r <= 0x7e: // the final byte
				s.mode = stText
				continue
			}
			s.mode = stText // malformed: end it, and treat r as text
		case stString, stStringEsc:
			s.strLen++
			switch {
			case r == 0x07 || r == 0x9c || (s.mode == stStringEsc && r == '\\'):
				s.mode = stText
			case r == 0x1b:
				s.mode = stStringEsc
			case s.strLen > maxControlString:
				s.mode = stText
			default:
				s.mode = stString
			}
			continue
		}
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == 0x1b:
			s.mode = stEsc
		case r == 0x9b:
			s.mode = stCSI
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f:
			s.mode, s.strLen = stString, 0
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
