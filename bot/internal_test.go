package bot

import (
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text    string
		want    command
		wantArg string
	}{
		{"/help", cmdHelp, ""},
		{"  /reset", cmdReset, ""},
		{"/RESET", cmdReset, ""},
		{"/重置", cmdReset, ""},
		{"/regen please", cmdRegen, "please"},
		{"换一个", cmdRegen, ""},
		{"/good", cmdGood, ""},
		{"/赞", cmdGood, ""},
		{"/bad", cmdBad, ""},
		{"/persona You are a pirate.", cmdPersona, "You are a pirate."},
		{"/人设 你是海盗", cmdPersona, "你是海盗"},
		{"/persona\nmulti\nline", cmdPersona, "multi\nline"},
		{"please /reset", cmdNone, ""},   // not the first word
		{"/resetting", cmdNone, ""},      // not the whole word
		{"「bot：/reset」 hi", cmdNone, ""}, // quoted text
		{"", cmdNone, ""},
	}
	for _, tt := range tests {
		got, arg := parseCommand(tt.text)
		if got != tt.want || arg != tt.wantArg {
			t.Errorf("parseCommand(%q) = %v, %q; want %v, %q", tt.text, got, arg, tt.want, tt.wantArg)
		}
	}
}

func TestTrimHistory(t *testing.T) {
	count := func(s string) int { return len(s) } // one token per byte
	h := []Turn{
		{Role: RoleUser, Content: strings.Repeat("a", 10)},
		{Role: RoleAssistant, Content: strings.Repeat("b", 10)},
		{Role: RoleUser, Content: strings.Repeat("c", 10)},
		{Role: RoleAssistant, Content: strings.Repeat("d", 10)},
	}
	next := Turn{Role: RoleUser, Content: "next"}
	sys := "sys"
	base := len(sys) + perMessageTokens + len(next.Content) + perMessageTokens // 15
	per := 10 + perMessageTokens                                               // 14
	tests := []struct {
		name   string
		budget int
		want   int // turns kept
	}{
		{"everything fits", base + 4*per, 4},
		{"oldest dropped first", base + 3*per, 2}, // 3 fit, but a leading assistant turn is dropped too
		{"two fit", base + 2*per, 2},
		{"nothing fits", base, 0},
		{"below even system and new turn", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trimHistory(count, sys, h, next, tt.budget)
			if len(got) != tt.want {
				t.Fatalf("kept %d turns, want %d", len(got), tt.want)
			}
			if len(got) > 0 && got[0].Role != RoleUser {
				t.Errorf("history starts with %s", got[0].Role)
			}
			if len(got) > 0 && !got[len(got)-1].Equal(h[len(h)-1]) {
				t.Errorf("the newest turn was dropped")
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"tab\tand\nnewline", "tab\tand\nnewline"},
		{"bell\x07 esc\x1b[31m", "bell esc[31m"},
		{"bidi \u202Eevil", "bidi evil"},
		{"bad \xff byte", "bad  byte"},
		{"real \uFFFD stays", "real \uFFFD stays"},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRefusalRules(t *testing.T) {
	rules, err := compileRefusals([]RefusalRule{
		{Category: "weapons", Keywords: []string{"Build a Bomb"}},
		{Category: "pii", Patterns: []string{`\b\d{3}-\d{2}-\d{4}\b`}, Reply: "No personal data, please."},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text     string
		category string
		reply    string
	}{
		{"how do I build a bomb?", "weapons", "Sorry, I can't help with that request."},
		{"教我 build a bomb 怎么做到的呢", "weapons", "抱歉，这个问题我无法回答。"},
		{"my number is 123-45-6789", "pii", "No personal data, please."},
		{"hello there", "", ""},
	}
	for _, tt := range tests {
		r, ok := matchRefusal(rules, tt.text)
		if ok != (tt.category != "") || r.category != tt.category {
			t.Errorf("%q: matched %v %q, want %q", tt.text, ok, r.category, tt.category)
			continue
		}
		if ok && r.answer(tt.text) != tt.reply {
			t.Errorf("%q: reply %q, want %q", tt.text, r.answer(tt.text), tt.reply)
		}
	}
	if _, err := compileRefusals([]RefusalRule{{Patterns: []string{"("}}}); err == nil {
		t.Error("a bad pattern compiled")
	}
}

func TestIsChinese(t *testing.T) {
	for text, want := range map[string]bool{"你好": true, "hello": false, "用 Go 写一个 hello world": true, "What does 你好 mean in English?": false} {
		if got := isChinese(text); got != want {
			t.Errorf("isChinese(%q) = %v", text, got)
		}
	}
}
