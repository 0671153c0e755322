package bot

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitReply(t *testing.T) {
	para := strings.Repeat("word ", 30) // 150 chars
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"short", "hello", 10, []string{"hello"}},
		{"empty", "", 10, nil},
		{"paragraph boundary", "aaaa bbbb\n\ncccc dddd", 15, []string{"aaaa bbbb\n\n", "cccc dddd"}},
		{"line boundary", "aaaa bbbb\ncccc dddd", 15, []string{"aaaa bbbb\n", "cccc dddd"}},
		{"word boundary", "aaaa bbbb cccc", 10, []string{"aaaa bbbb ", "cccc"}},
		{"hard cut", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"multibyte never split", "你好世界你好", 4, []string{"你好世界", "你好"}},
		{"fence reopened", "```go\n" + "x := 1\n" + "y := 2\n" + "```\n", 20,
			[]string{"```go\nx := 1\n\n```", "```go\ny := 2\n```\n"}},
		{"long paragraphs", para + "\n\n" + para, 200, []string{para + "\n\n", para}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitReply(tt.text, tt.limit)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("SplitReply(%q, %d) = %q, want %q", tt.text, tt.limit, got, tt.want)
			}
		})
	}
}

func TestSplitReplyBytes(t *testing.T) {
	got := SplitReplyBytes("你好世界", 7) // 3 bytes each
	want := []string{"你好", "世界"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// checkSplit checks every chunk's size and that the chunks re-join to the
// input once the fence lines splitReply may add are removed. Which lines
// were added is not taken from the splitter: every reading of a chunk
// (with or without a re-opening line, with or without a closing line) is
// tried against the input, and a fence line may only be added where the
// input, scanned independently, is inside a fence.
func checkSplit(t *testing.T, text string, limit int, chunks []string, measure func(string) int) {
	t.Helper()
	for i, c := range chunks {
		if measure(c) > limit && utf8.RuneCountInString(c) != 1 {
			t.Fatalf("chunk %d is %d long, limit %d: %q", i, measure(c), limit, c)
		}
	}
	var rejoin func(i, pos int) bool
	rejoin = func(i, pos int) bool {
		if i == len(chunks) {
			return pos == len(text)
		}
		c := chunks[i]
		bodies := []string{c}
		if in, _ := fenceState(text[:pos]); in && i > 0 && strings.HasPrefix(c, "```") {
			if j := strings.IndexByte(c, '\n'); j >= 0 {
				bodies = append(bodies, c[j+1:])
			}
		}
		for _, body := range bodies {
			raws := []string{body}
			if raw, ok := strings.CutSuffix(body, fenceClose); ok && i < len(chunks)-1 {
				raws = append(raws, raw)
			}
			for k, raw := range raws {
				if !strings.HasPrefix(text[pos:], raw) {
					continue
				}
				if k == 1 {
					if in, _ := fenceState(text[:pos+len(raw)]); !in {
						continue
					}
				}
				if rejoin(i+1, pos+len(raw)) {
					return true
				}
			}
		}
		return false
	}
	if !rejoin(0, 0) {
		t.Fatalf("chunks do not re-join to the input %q: %q", text, chunks)
	}
}

func FuzzSplitReply(f *testing.F) {
	f.Add("hello world", 5)
	f.Add("```py\nprint(1)\nprint(2)\n```\ntext after\n```\nmore code\n```", 20)
	f.Add("你好，世界。\n\n第二段。", 4)
	f.Add(strings.Repeat("a", 100), 16)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if !utf8.ValidString(text) || limit <= 0 || limit > 5000 || len(text) > 5000 {
			t.Skip()
		}
		checkSplit(t, text, limit, SplitReply(text, limit), utf8.RuneCountInString)
		checkSplit(t, text, limit, SplitReplyBytes(text, limit), func(s string) int { return len(s) })
	})
}
