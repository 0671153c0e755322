package model

import "strings"

// stopper holds back generated text that may be the start of a stop
// string, so that a stop string is never shown, even in part.
type stopper struct {
	stops   []string
	pending string
}

// push adds text and returns what can be shown now, and whether a stop
// string was completed (the text before it is returned and the rest
// dropped). The stop is where a stop string is first completed, as if the
// text came a byte at a time, whatever the pieces: the text is cut where
// the earliest stop string found up to there starts.
func (s *stopper) push(text string) (out string, stopped bool) {
	s.pending += text
	end := -1
	for _, st := range s.stops {
		if st == "" {
			continue
		}
		if i := strings.Index(s.pending, st); i >= 0 && (end < 0 || i+len(st) < end) {
			end = i + len(st)
		}
	}
	if end >= 0 {
		first := end
		for _, st := range s.stops {
			if st == "" {
				continue
			}
			if i := strings.Index(s.pending[:end], st); i >= 0 && i < first {
				first = i
			}
		}
		out, s.pending = s.pending[:first], ""
		return out, true
	}
	hold := 0
	for _, st := range s.stops {
		for n := min(len(st)-1, len(s.pending)); n > hold; n-- {
			if strings.HasSuffix(s.pending, st[:n]) {
				hold = n
				break
			}
		}
	}
	out = s.pending[:len(s.pending)-hold]
	s.pending = s.pending[len(s.pending)-hold:]
	return out, false
}

// flush returns the text held back.
func (s *stopper) flush() string {
	out := s.pending
	s.pending = ""
	return out
}
