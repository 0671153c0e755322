package bot

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCited(t *testing.T) {
	tests := []struct {
		text string
		n    int
		want string
	}{
		{"a [1] b [3]", 3, "[1 3]"},
		{"[2][1] and [1, 3] and [ 2 ,3 ]", 3, "[1 2 3]"},
		{"[0] [4] [99999] [x] [-1]", 3, "[]"},
		{"no citations", 5, "[]"},
		{"[1]", 0, "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(cited(tt.text, tt.n)); got != tt.want {
			t.Errorf("cited(%q, %d) = %s, want %s", tt.text, tt.n, got, tt.want)
		}
	}
}

func TestTruncateTokens(t *testing.T) {
	text := strings.Repeat("北京天气 sunny ", 300)
	for _, limit := range []int{16, 100, 1000} {
		got := truncateTokens(estimateTokens, text, limit)
		if n := estimateTokens(got); n > limit {
			t.Errorf("limit %d: %d tokens", limit, n)
		}
		if !utf8.ValidString(got) || !strings.HasSuffix(got, fmt.Sprintf("…[cut to %d tokens]", limit)) {
			t.Errorf("limit %d: %q", limit, got)
		}
	}
	if got := truncateTokens(estimateTokens, "short", 16); got != "short" {
		t.Errorf("a short text was changed: %q", got)
	}
}

// FuzzSources feeds tool results and answers of any shape through the
// renumbering, the citation footer and the reading back of /sources:
// nothing panics, numbers stay within the list, and what /sources reads
// back from a renumbered builtin-shaped result is the list itself.
func FuzzSources(f *testing.F) {
	f.Add("[1] T\nhttps://a/\nx\n\n[2] U\nhttps://b/\ny", "see [2] and [1, 2]", "https://a/", "https://b/")
	f.Add("[3] x\n[1] \nhttp://", "[1][1][1]", "", "")
	f.Add("", "[9999]", "https://a/", "https://a/")
	f.Fuzz(func(t *testing.T, text, answer, url1, url2 string) {
		var list sourceList
		srcs := []Source{{Title: "one", URL: url1}, {Title: "two", URL: url2}}
		first := list.add(ToolResult{Text: text, Sources: srcs})
		second := list.add(ToolResult{Text: text, Sources: srcs[:1]})
		if len(list.list) > 2 {
			t.Fatalf("%d sources from two URLs", len(list.list))
		}
		for _, k := range cited(answer, len(list.list)) {
			if k < 1 || k > len(list.list) {
				t.Fatalf("cited %d of %d", k, len(list.list))
			}
		}
		_ = sourcesFooter(answer, answer, list.list)
		got := sourcesOf([]Turn{{Role: RoleTool, Content: first}, {Role: RoleTool, Content: second}})
		for i := 1; i < len(got); i++ {
			if got[i].n <= got[i-1].n {
				t.Fatalf("sources out of order: %+v", got)
			}
		}
		// A well-formed result reads back as exactly its sources.
		if okURL(url1) && okURL(url2) && url1 != url2 {
			var l2 sourceList
			res := fmt.Sprintf("[1] one\n%s\nsnippet\n\n[2] two\n%s\nsnippet", url1, url2)
			back := sourcesOf([]Turn{{Role: RoleTool, Content: l2.add(ToolResult{Text: res, Sources: srcs})}})
			if len(back) != 2 || back[0].URL != url1 || back[1].URL != url2 || back[0].n != 1 || back[1].n != 2 {
				t.Fatalf("read back %+v from %q", back, res)
			}
		}
	})
}

// okURL is a URL as builtin results write them: http(s), no spaces.
func okURL(u string) bool {
	return (strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) && len(u) > 8 && !strings.ContainsAny(u, " \t\r\n\v\f\u0085\u00a0")
}

func TestWithoutSourceLists(t *testing.T) {
	list := sourcesFooter("q", "a [1] [2]", []Source{{"T", "https://a/"}, {"", "http://b/x"}})
	in := []Turn{
		{Role: RoleUser, Content: "q\n\nSources:\n[1] mine: https://u/"},
		{Role: RoleAssistant, Content: "a [1] [2]" + list},
		{Role: RoleAssistant, Content: "中文 [1]" + sourcesFooter("中文", "中文 [1]", []Source{{"T", "https://a/"}})},
		{Role: RoleAssistant, Content: "Sources:\nnot a list\n\nSources:\n[1] x: https://a/\nmore words"},
	}
	got := withoutSourceLists(in)
	want := []string{in[0].Content, "a [1] [2]", "中文 [1]", in[3].Content}
	for i := range want {
		if got[i].Content != want[i] {
			t.Errorf("turn %d: %q, want %q", i, got[i].Content, want[i])
		}
	}
	if in[1].Content == "a [1] [2]" {
		t.Error("the caller's history was changed")
	}
}
