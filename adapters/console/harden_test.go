package console

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/chatloop/chatloop/bot"
)

// echoHandler answers each message with fixed tokens (or, for a long
// message, the refusal the core gives), recording what it was handed.
type echoHandler struct {
	mu     sync.Mutex
	got    []string
	tokens []string
}

func (h *echoHandler) HandleMessage(ctx context.Context, m bot.Message, r bot.Replier) {
	h.mu.Lock()
	h.got = append(h.got, m.Text)
	h.mu.Unlock()
	defer r.(bot.Completer).Complete()
	if len(m.Text) > 4000 {
		_ = r.Send(ctx, "too long")
		return
	}
	ch := make(chan string, len(h.tokens))
	for _, t := range h.tokens {
		ch <- t
	}
	close(ch)
	_ = r.Stream(ctx, bot.Outgoing{}, ch)
}
func (h *echoHandler) HandleReaction(context.Context, bot.Reaction, bot.Replier) {}
func (h *echoHandler) Withdraw(string, bot.ChatID, bot.MessageID)                {}

// TestHugePipedLineRefused: a piped line over 4 MiB is refused like any
// over-long message, and the lines after it are still read and answered.
func TestHugePipedLineRefused(t *testing.T) {
	h := &echoHandler{tokens: []string{"ok"}}
	in := "first\n" + strings.Repeat("x", 5<<20) + "\nlast\n" + strings.Repeat("y", 1<<20) + "\nafter\n"
	var out bytes.Buffer
	c := New(h, strings.NewReader(in), &out, Options{})
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.got) != 5 || h.got[0] != "first" || h.got[2] != "last" || h.got[4] != "after" {
		lens := []int{}
		for _, g := range h.got {
			lens = append(lens, len(g))
		}
		t.Fatalf("handed %d messages of lengths %v, want 5 with first, last and after intact", len(h.got), lens)
	}
	if len(h.got[1]) > MaxLine || !utf8.ValidString(h.got[1]) {
		t.Errorf("the huge line was handed on as %d bytes, want at most %d", len(h.got[1]), MaxLine)
	}
	if got := strings.Count(out.String(), "too long"); got != 2 {
		t.Errorf("%d refusals, want 2:\n%.300s", got, out.String())
	}
}

// TestControlCharactersStripped: model output cannot move the cursor,
// clear the screen, retitle the terminal or rewrite a line: ESC sequences,
// CR, NUL, FF, BEL, DEL, C1 controls and bidi overrides are removed before
// anything reaches the terminal; newlines, tabs and ordinary text stay.
func TestControlCharactersStripped(t *testing.T) {
	h := &echoHandler{tokens: []string{
		"safe\x1b[2J\x1b[H", "\x1b]0;pwned\x07", "line\r\x00over", "\x0cwritten\x1b", "[31mred", "\u009b31m\u202egnp.exe\u2066\n\ttab",
		"中文 ✓ é\x7f",
	}}
	var out bytes.Buffer
	c := New(h, strings.NewReader("hi\n"), &out, Options{Interactive: true})
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, bad := range []string{"\x1b", "\r", "\x00", "\x0c", "\x07", "\x7f", "\u009b", "\u202e", "\u2066", "pwned"} {
		if strings.Contains(got, bad) {
			t.Errorf("output holds %q: %q", bad, got)
		}
	}
	for _, want := range []string{"safe", "lineover", "written", "red", "\n\ttab", "中文 ✓ é"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lost %q: %q", want, got)
		}
	}
	var n bytes.Buffer
	r := &replier{c: New(h, nil, &n, Options{}), done: make(chan struct{})}
	_ = r.Send(context.Background(), "notice\x1b[1A\rX")
	if strings.ContainsAny(n.String(), "\x1b\r") {
		t.Errorf("a notice kept control characters: %q", n.String())
	}
}

func FuzzTerminalSafe(f *testing.F) {
	f.Add("a\x1b[31mb\x1b]0;t\x07c")
	f.Add("\x1b")
	f.Add("\u009b\u202e")
	f.Fuzz(func(t *testing.T, s string) {
		var st termState
		out := st.clean(s)
		if strings.ContainsAny(out, "\x1b\r\x00\x0c\x07\x7f\u009b\u202e") {
			t.Fatalf("clean(%q) = %q", s, out)
		}
	})
}
