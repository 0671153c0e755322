package bot

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// sanitize strips control characters other than newline and tab, and
// invalid UTF-8, from user input.
func sanitize(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == utf8.RuneError || isStripped(r) }) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				continue // an invalid byte, not a real U+FFFD
			}
		}
		if isStripped(r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isStripped(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	// Cc controls, and the bidirectional overrides used to disguise text.
	return unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// refusal is a compiled RefusalRule.
type refusal struct {
	category string
	keywords []string
	patterns []*regexp.Regexp
	reply    string
	replyZH  string
}

func compileRefusals(rules []RefusalRule) ([]refusal, error) {
	out := make([]refusal, 0, len(rules))
	for i, r := range rules {
		c := refusal{category: r.Category, reply: r.Reply, replyZH: r.ReplyZH}
		for _, k := range r.Keywords {
			if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
				c.keywords = append(c.keywords, k)
			}
		}
		for _, p := range r.Patterns {
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("refusals[%d]: pattern %q: %w", i, p, err)
			}
			c.patterns = append(c.patterns, re)
		}
		out = append(out, c)
	}
	return out, nil
}

// match returns the first rule text breaks.
func matchRefusal(rules []refusal, text string) (refusal, bool) {
	lower := strings.ToLower(text)
	for _, r := range rules {
		for _, k := range r.keywords {
			if strings.Contains(lower, k) {
				return r, true
			}
		}
		for _, p := range r.patterns {
			if p.MatchString(text) {
				return r, true
			}
		}
	}
	return refusal{}, false
}

// isChinese guesses whether text is written in Chinese: any Han character
// and no more Latin letters than Han ones.
func isChinese(text string) bool {
	han, latin := 0, 0
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
		case r < 0x80 && unicode.IsLetter(r):
			latin++
		}
	}
	return han > 0 && han*3 >= latin
}

// phrase picks the English or Chinese wording by the language of text.
func phrase(text, en, zh string) string {
	if isChinese(text) {
		return zh
	}
	return en
}

func (r refusal) answer(text string) string {
	en, zh := r.reply, r.replyZH
	if en == "" {
		en = "Sorry, I can't help with that request."
	}
	if zh == "" {
		zh = "抱歉，这个问题我无法回答。"
	}
	return phrase(text, en, zh)
}
