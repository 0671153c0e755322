package ilink

import (
	"strings"
	"sync"
	"unicode"
)

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
	clean := func(lists ...[]string) []string {
		var out []string
		seen := map[string]bool{}
		for _, list := range lists {
			for _, t := range list {
				if t = normalizeToken(t); t != "" && !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
		return out
	}
	return tokens{
		up:    clean(builtinUp, c.UpTokens),
		down:  clean(builtinDown, c.DownTokens),
		regen: clean(builtinRegen, c.RegenTokens),
	}
}

// classify says whether text, the whole message, is a feedback token: a
// token alone or repeated ("👍👍"), or the single letter of an A/B choice.
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
		rest := s
		for tok != "" && len(rest) >= len(tok) && strings.EqualFold(rest[:len(tok)], tok) {
			rest = strings.TrimLeftFunc(rest[len(tok):], unicode.IsSpace)
		}
		if rest == "" && tok != "" {
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

// idSet is a bounded set of ids, forgetting the oldest first.
type idSet struct {
	mu    sync.Mutex
	max   int
	has   map[string]bool
	order []string
}

func newIDSet(max int) *idSet { return &idSet{max: max, has: map[string]bool{}} }

// add records id and reports whether it was new.
func (s *idSet) add(id string) bool {
	if id == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.has[id] {
		return false
	}
	s.has[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.has, s.order[0])
		s.order = s.order[1:]
	}
	return true
}

// contains reports whether id is in the set.
func (s *idSet) contains(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.has[id]
}
