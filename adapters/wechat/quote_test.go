package wechat

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseQuote(t *testing.T) {
	tests := []struct {
		name, in    string
		ok          bool
		block, repl string
	}{
		{"plain", "「Bot：hello world」\n- - - - - - - - - - - - - - -\n[强]", true, "Bot：hello world", "[强]"},
		{"multi-line quote and reply", "「Bot：line one\nline two」\n- - - - - - - - - - - - - - -\nfirst\nsecond", true, "Bot：line one\nline two", "first\nsecond"},
		{"quote holds 」", "「Bot：a 」 b」\n- - - - - - - - - - - - - - -\nok", true, "Bot：a 」 b", "ok"},
		{"separator-looking line inside the quote", "「Bot：x\n- - -\ny」\n- - - - - - - - - - - - - - -\nz", true, "Bot：x\n- - -\ny", "z"},
		{"leading space and CRLF", "  「Bot：hi」\r\n- - - - - - - - - - - - - - -\r\n好 ", true, "Bot：hi", "好"},
		{"empty reply", "「Bot：hi」\n- - - - - - - - - - - - - - -\n", true, "Bot：hi", ""},
		{"no separator", "「Bot：hi」 and more", false, "", ""},
		{"not at the start", "so 「Bot：hi」\n- - - - - - - - - - - - - - -\nx", false, "", ""},
		{"separator without a closing bracket", "「Bot：hi\n- - - - - - - - - - - - - - -\nx", false, "", ""},
		{"too few dashes", "「Bot：hi」\n- -\nx", false, "", ""},
		{"empty", "", false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, ok := parseQuote(tc.in)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if q.Block != tc.block || q.Reply != tc.repl {
				t.Errorf("got block %q reply %q, want %q and %q", q.Block, q.Reply, tc.block, tc.repl)
			}
		})
	}
}

func TestSplitQuoteBlock(t *testing.T) {
	tests := []struct {
		block      string
		known      []string
		name, text string
	}{
		{"小助手：@Bob\u2005answer", []string{"小助手", "LoopBot"}, "小助手", "@Bob\u2005answer"},
		{"A：B：text", []string{"A：B"}, "A：B", "text"},
		{"A：B：text", nil, "A", "B：text"},
		{"Bot:ascii colon", nil, "Bot", "ascii colon"},
		{"no colon at all", nil, "", "no colon at all"},
	}
	for _, tc := range tests {
		name, text := splitQuoteBlock(tc.block, tc.known)
		if name != tc.name || text != tc.text {
			t.Errorf("splitQuoteBlock(%q, %q) = %q, %q; want %q, %q", tc.block, tc.known, name, text, tc.name, tc.text)
		}
	}
}

func TestStripMention(t *testing.T) {
	names := []string{"小助手", "LoopBot"}
	tests := []struct {
		in, out string
		found   bool
	}{
		{"@小助手\u2005what is 2+2?", "what is 2+2?", true},
		{"hello @LoopBot how are you", "hello how are you", true},
		{"question @LoopBot", "question", true},
		{"@LoopBotty is someone else", "@LoopBotty is someone else", false},
		{"@Alice\u2005hi", "@Alice\u2005hi", false},
		{"@小助手\u2005@LoopBot\u2005twice", "twice", true},
		{"mail me at x@LoopBot.com", "mail me at x@LoopBot.com", false},
		{"", "", false},
	}
	for _, tc := range tests {
		out, found := stripMention(tc.in, names)
		if out != tc.out || found != tc.found {
			t.Errorf("stripMention(%q) = %q, %v; want %q, %v", tc.in, out, found, tc.out, tc.found)
		}
	}
}

func TestLeadingMention(t *testing.T) {
	for in, want := range map[string]string{
		"@Bobby\u2005The answer": "The answer",
		"@Bobby The answer":      "The answer",
		"The answer":             "The answer",
		"@":                      "@",
	} {
		if got := leadingMention(in); got != want {
			t.Errorf("leadingMention(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	toks := newTokens(DefaultConfig())
	tests := map[string]intent{
		"[强]":      intentUp,
		" 👍 ":      intentUp,
		"👍🏻":       intentUp,
		"👍👍👍":      intentUp,
		"[强][强]":   intentUp,
		"+1":       intentUp,
		"好":        intentUp,
		"[弱]":      intentDown,
		"👎":        intentDown,
		"-1":       intentDown,
		"差":        intentDown,
		"换一个":      intentRegen,
		"/regen":   intentRegen,
		"/REGEN":   intentRegen,
		"A":        intentChooseA,
		"b":        intentChooseB,
		"Ａ":        intentChooseA,
		"好的":       intentNone,
		"好吧 差不多":   intentNone,
		"+1 agree": intentNone,
		"👍👎":       intentNone,
		"AB":       intentNone,
		"":         intentNone,
		"   ":      intentNone,
	}
	for in, want := range tests {
		if got := toks.classify(in); got != want {
			t.Errorf("classify(%q) = %v, want %v", in, got, want)
		}
	}
	custom := DefaultConfig()
	custom.UpTokens, custom.DownTokens = []string{"赞"}, []string{"踩"}
	toks = newTokens(custom)
	if toks.classify("好") != intentNone || toks.classify("赞") != intentUp || toks.classify("踩") != intentDown {
		t.Error("configured tokens are not the ones recognised")
	}
}

// FuzzParseQuote checks that any text parses without panic, that a quote
// is recognised only with its separator, and that block and reply come
// from the input.
func FuzzParseQuote(f *testing.F) {
	for _, s := range []string{
		"「Bot：hello」\n- - - - - - - - - - - - - - -\n[强]",
		"「a」\n---\n",
		"「」\n- - -\n」\n- - -\nx",
		"plain text",
		"「\n」\n－－－\n👍",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, ok := parseQuote(s)
		if !ok {
			if q != (quoteReply{}) {
				t.Fatalf("not a quote but got %+v", q)
			}
			return
		}
		if !strings.Contains(s, "「") || !strings.Contains(s, "」") {
			t.Fatalf("quote found in %q without brackets", s)
		}
		if !strings.Contains(s, q.Block) || !strings.Contains(s, q.Reply) {
			t.Fatalf("block %q or reply %q not from %q", q.Block, q.Reply, s)
		}
		if utf8.ValidString(s) && (!utf8.ValidString(q.Block) || !utf8.ValidString(q.Reply)) {
			t.Fatalf("invalid UTF-8 out of valid input %q", s)
		}
		name, text := splitQuoteBlock(q.Block, []string{"Bot"})
		if !strings.Contains(q.Block, name) || !strings.Contains(q.Block, text) {
			t.Fatalf("split %q into %q and %q", q.Block, name, text)
		}
	})
}

// FuzzStripMention checks that stripping never adds text and finds the
// mention it was built with.
func FuzzStripMention(f *testing.F) {
	f.Add("hello", "Bot")
	f.Add("@Bot\u2005x @Bot", "Bot")
	f.Add("@@Bot Bot@Bot", "Bot")
	f.Fuzz(func(t *testing.T, text, name string) {
		out, found := stripMention(text, []string{name})
		if len(out) > len(text) {
			t.Fatalf("stripMention(%q, %q) grew to %q", text, name, out)
		}
		if name != "" {
			if _, found2 := stripMention("@"+name+"\u2005"+text, []string{name}); !found2 {
				t.Fatalf("mention of %q not found", name)
			}
		}
		if !found && out != strings.TrimSpace(text) {
			t.Fatalf("nothing found but %q became %q", text, out)
		}
		_ = newTokens(DefaultConfig()).classify(text)
	})
}

// FuzzGuardBody checks that whatever WeChat answers, the guarded answer
// either is the same bytes or is a JSON object whose SyncKey (and, for
// webwxinit, User) is an object openwechat can dereference.
func FuzzGuardBody(f *testing.F) {
	f.Add([]byte(`{"BaseResponse":{"Ret":1101}}`), true)
	f.Add([]byte(`{"SyncKey":{"Count":1,"List":[{"Key":1,"Val":2}]},"User":{"UserName":"@a"}}`), false)
	f.Add([]byte(`{"SyncKey":[]}`), true)
	f.Add([]byte(`null`), false)
	f.Fuzz(func(t *testing.T, body []byte, init bool) {
		out := guardBody(body, init)
		if bytes.Equal(out, body) {
			return
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("guarded %q into invalid JSON %q: %v", body, out, err)
		}
		if missing(doc["SyncKey"]) || (init && missing(doc["User"])) {
			t.Fatalf("guarded %q into %q, still without SyncKey/User", body, out)
		}
		var key struct {
			Count int
			List  []struct{ Key, Val int64 }
		}
		if err := json.Unmarshal(doc["SyncKey"], &key); err == nil && key.Count != len(key.List) {
			t.Fatalf("guarded %q into a SyncKey with Count %d and %d items", body, key.Count, len(key.List))
		}
	})
}
