package wechat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// quoteReply is a quote-reply as the web protocol delivers it: plain text
//
//	「Name：quoted text」
//	- - - - - - - - - - - - - - -
//	reply
type quoteReply struct {
	// Block is everything between 「 and 」: "Name：quoted text".
	Block string
	// Reply is the text after the separator line.
	Reply string
}

// parseQuote splits a quote-reply. ok is false when content is not one.
func parseQuote(content string) (q quoteReply, ok bool) {
	s := strings.TrimLeftFunc(content, unicode.IsSpace)
	if !strings.HasPrefix(s, "「") {
		return quoteReply{}, false
	}
	lines := strings.Split(s, "\n")
	for i := 1; i < len(lines); i++ {
		if !isSeparatorLine(lines[i]) {
			continue
		}
		prev := strings.TrimRightFunc(lines[i-1], unicode.IsSpace)
		if !strings.HasSuffix(prev, "」") {
			continue
		}
		head := strings.Join(append(lines[:i-1:i-1], prev), "\n")
		block := strings.TrimSuffix(strings.TrimPrefix(head, "「"), "」")
		reply := strings.Join(lines[i+1:], "\n")
		return quoteReply{Block: block, Reply: strings.TrimSpace(reply)}, true
	}
	return quoteReply{}, false
}

// isSeparatorLine reports whether line is the dashed line between a quote
// and its reply: only dashes and spaces, at least three dashes.
func isSeparatorLine(line string) bool {
	dashes := 0
	for _, r := range line {
		switch {
		case r == '-' || r == '－' || r == '—':
			dashes++
		case unicode.IsSpace(r):
		default:
			return false
		}
	}
	return dashes >= 3
}

// splitQuoteBlock splits "Name：quoted text" into the name and the text.
// A name among known is preferred, since a name may itself contain a colon;
// otherwise the first full-width (or ASCII) colon separates them.
func splitQuoteBlock(block string, known []string) (name, text string) {
	for _, n := range known {
		if n == "" {
			continue
		}
		for _, colon := range []string{"：", ":"} {
			if rest, ok := strings.CutPrefix(block, n+colon); ok {
				return n, rest
			}
		}
	}
	for _, colon := range []string{"：", ":"} {
		if n, rest, ok := strings.Cut(block, colon); ok && !strings.Contains(n, "\n") {
			return n, rest
		}
	}
	return "", block
}

// stripMention removes every "@name" of the bot from text (WeChat writes a
// mention as "@name" followed by U+2005, a space, or the end of the text)
// and reports whether one was found.
func stripMention(text string, names []string) (string, bool) {
	found := false
	for _, n := range names {
		if n == "" {
			continue
		}
		at := "@" + n
		var b strings.Builder
		rest := text
		for {
			i := strings.Index(rest, at)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			after := rest[i+len(at):]
			r, size := utf8.DecodeRuneInString(after)
			switch {
			case after == "":
				found = true
				b.WriteString(rest[:i])
				rest = ""
			case r == '\u2005' || r == ' ' || r == '\u3000' || r == '\n':
				found = true
				b.WriteString(rest[:i])
				rest = after[size:]
			default:
				b.WriteString(rest[:i+len(at)])
				rest = after
			}
			if rest == "" {
				break
			}
		}
		text = b.String()
	}
	return strings.TrimSpace(text), found
}

// leadingMention removes one "@anyone" mention at the start of text, as the
// bot puts before its answers in groups: up to U+2005, or up to the first
// space when a quote has turned U+2005 into one.
func leadingMention(text string) string {
	if !strings.HasPrefix(text, "@") {
		return text
	}
	if i := strings.IndexRune(text, '\u2005'); i > 0 {
		return text[i+len("\u2005"):]
	}
	if i := strings.IndexFunc(text, unicode.IsSpace); i > 0 {
		return strings.TrimLeftFunc(text[i:], unicode.IsSpace)
	}
	return text
}

// intent is what a short message means as feedback.
type intent int

const (
	intentNone intent = iota
	intentUp
	intentDown
	intentRegen
	intentChooseA
	intentChooseB
)

// tokens recognises feedback messages.
type tokens struct {
	up, down, regen []string
}

func newTokens(c Config) tokens {
	clean := func(list []string) []string {
		out := make([]string, 0, len(list))
		for _, t := range list {
			if t = normalizeToken(t); t != "" {
				out = append(out, t)
			}
		}
		return out
	}
	return tokens{up: clean(c.UpTokens), down: clean(c.DownTokens), regen: clean(c.RegenTokens)}
}

// classify says whether text, the whole message, is a feedback token: a
// token alone, or repeated ("👍👍"). A/B choices are single letters.
func (t tokens) classify(text string) intent {
	s := normalizeToken(text)
	if s == "" {
		return intentNone
	}
	switch strings.ToUpper(s) {
	case "A", "Ａ":
		return intentChooseA
	case "B", "Ｂ":
		return intentChooseB
	}
	for _, tok := range t.regen {
		if strings.EqualFold(s, tok) {
			return intentRegen
		}
	}
	if repeats(s, t.up) {
		return intentUp
	}
	if repeats(s, t.down) {
		return intentDown
	}
	return intentNone
}

// repeats reports whether s is one of toks repeated one or more times.
func repeats(s string, toks []string) bool {
	for _, tok := range toks {
		if tok == "" {
			continue
		}
		rest := s
		for strings.HasPrefix(rest, tok) {
			rest = strings.TrimLeftFunc(rest[len(tok):], unicode.IsSpace)
		}
		if rest == "" {
			return true
		}
	}
	return false
}

// normalizeToken trims spaces and drops emoji skin-tone modifiers and
// variation selectors, so that 👍🏻 counts as 👍.
func normalizeToken(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\u2005' })
	return strings.Map(func(r rune) rune {
		if r == '\uFE0F' || r == '\uFE0E' || (r >= 0x1F3FB && r <= 0x1F3FF) {
			return -1
		}
		return r
	}, s)
}
