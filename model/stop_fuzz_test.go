package model

import (
	"strings"
	"testing"
)

// cutAtStop is what a stopper fed text in any pieces must show, worked
// out on the whole text: the stop strings are looked for in the text up
// to the first place where one of them ends, and the text is cut where
// the earliest of those starts.
func cutAtStop(text string, stops []string) (string, bool) {
	end := -1
	for _, s := range stops {
		if i := strings.Index(text, s); s != "" && i >= 0 && (end < 0 || i+len(s) < end) {
			end = i + len(s)
		}
	}
	if end < 0 {
		return text, false
	}
	cut := end
	for _, s := range stops {
		if i := strings.Index(text[:end], s); s != "" && i >= 0 && i < cut {
			cut = i
		}
	}
	return text[:cut], true
}

// FuzzStopperTwoStops feeds text in pieces of fuzzed sizes and checks what is
// shown against cutAtStop (with two stop strings that may overlap), and that nothing shown before the end is ever
// taken back.
func FuzzStopperTwoStops(f *testing.F) {
	f.Add("hi ### there", "###", "", []byte{4, 1, 3})
	f.Add("x\n\nEND", "END", "\n\n", []byte{1})
	f.Add("a ##b", "###", "#b", []byte{2, 2})
	f.Add("你好。再见", "。", "好。", []byte{1, 2, 5})
	f.Add("<|im_end|>more", "<|im_end|>", "<|im_start|>", []byte{5, 5})
	f.Add("abcabd", "abd", "bca", []byte{1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, text, stop1, stop2 string, sizes []byte) {
		stops := []string{stop1, stop2}
		s := &stopper{stops: stops}
		var shown strings.Builder
		stopped := false
		rest := text
		for i := 0; rest != "" && !stopped; i++ {
			n := len(rest)
			if len(sizes) > 0 {
				n = min(int(sizes[i%len(sizes)])%8+1, len(rest))
			}
			out, st := s.push(rest[:n])
			rest = rest[n:]
			shown.WriteString(out)
			stopped = st
			if !strings.HasPrefix(text, shown.String()) {
				t.Fatalf("shown %q is not a prefix of the text %q", shown.String(), text)
			}
		}
		if !stopped {
			shown.WriteString(s.flush())
		}
		want, wantStop := cutAtStop(text, stops)
		if shown.String() != want || stopped != wantStop {
			t.Errorf("text %q, stops %q, pieces %v: shown %q (stopped %v), want %q (%v)", text, stops, sizes, shown.String(), stopped, want, wantStop)
		}
	})
}
