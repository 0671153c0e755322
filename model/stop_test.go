package model

import (
	"strings"
	"testing"
)

func TestStopper(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		pieces  []string
		shown   string
		stopped bool
	}{
		{"no stops", nil, []string{"a", "b"}, "ab", false},
		{"stop split over pieces", []string{"###"}, []string{"hi #", "#", "# there"}, "hi ", true},
		{"false start released", []string{"###"}, []string{"a #", "#b"}, "a ##b", false},
		{"earliest of two", []string{"END", "\n\n"}, []string{"x\n\nEND"}, "x", true},
		{"stop at the very start", []string{"<|im_end|>"}, []string{"<|im_", "end|>more"}, "", true},
		{"unicode", []string{"。"}, []string{"你好", "。再见"}, "你好", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &stopper{stops: tt.stops}
			var b strings.Builder
			stopped := false
			for _, p := range tt.pieces {
				out, st := s.push(p)
				b.WriteString(out)
				if st {
					stopped = true
					break
				}
			}
			if !stopped {
				b.WriteString(s.flush())
			}
			if b.String() != tt.shown || stopped != tt.stopped {
				t.Errorf("got %q stopped=%v, want %q stopped=%v", b.String(), stopped, tt.shown, tt.stopped)
			}
		})
	}
}

// FuzzStopper checks that whatever the pieces, the shown text never
// contains a stop string, and is exactly the input up to the first stop
// string (or all of it).
func FuzzStopper(f *testing.F) {
	f.Add("hello ### world", "###", 3)
	f.Add("aaab", "aab", 1)
	f.Add("<|im_end|>", "<|im_end|>", 2)
	f.Add("", "x", 1)
	f.Fuzz(func(t *testing.T, text, stop string, step int) {
		if step <= 0 || step > 16 {
			step = 1
		}
		s := &stopper{stops: []string{stop}}
		var shown strings.Builder
		stopped := false
		for i := 0; i < len(text) && !stopped; i += step {
			out, st := s.push(text[i:min(i+step, len(text))])
			shown.WriteString(out)
			stopped = st
		}
		if !stopped {
			shown.WriteString(s.flush())
		}
		want := text
		if stop != "" {
			if i := strings.Index(text, stop); i >= 0 {
				want = text[:i]
			}
		}
		if shown.String() != want {
			t.Errorf("text %q stop %q step %d: shown %q, want %q", text, stop, step, shown.String(), want)
		}
	})
}
