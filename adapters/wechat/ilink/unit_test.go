package ilink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
)

// TestWireIDLossless decodes uint64 message ids written as JSON numbers
// (as the server does) and as strings, without the rounding float64 does.
func TestWireIDLossless(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want wireID
		err  bool
	}{
		{in: `18446744073709551615`, want: "18446744073709551615"},
		{in: `9007199254740993`, want: "9007199254740993"}, // 2^53+1: float64 makes it ...992
		{in: `"7365826178943217665"`, want: "7365826178943217665"},
		{in: `0`, want: "0"},
		{in: `null`, want: ""},
		{in: `""`, want: ""},
		{in: `18446744073709551616`, err: true}, // 2^64
		{in: `-1`, err: true},
		{in: `1.5`, err: true},
		{in: `1e3`, err: true},
		{in: `"abc"`, err: true},
		{in: `true`, err: true},
	} {
		var got struct {
			ID wireID `json:"message_id"`
		}
		err := json.Unmarshal([]byte(`{"message_id":`+tc.in+`}`), &got)
		if (err != nil) != tc.err || got.ID != tc.want {
			t.Errorf("%s: got %q, %v; want %q (error %v)", tc.in, got.ID, err, tc.want, tc.err)
		}
	}
	b, err := json.Marshal(struct {
		ID wireID `json:"svr_id"`
	}{"18446744073709551615"})
	if err != nil || string(b) != `{"svr_id":18446744073709551615}` {
		t.Errorf("marshal: %s, %v", b, err)
	}
}

// TestHeaders checks the values the reference computes: the client
// version as 0x00MMNNPP (api.ts: "1.0.11" -> 65547) and X-WECHAT-UIN as
// the base64 of a decimal uint32.
func TestHeaders(t *testing.T) {
	for v, want := range map[string]uint32{"1.0.11": 65547, "2.4.9": 0x020409, "0.0.0": 0, "1": 0x010000} {
		if got := clientVersion(v); got != want {
			t.Errorf("clientVersion(%q) = %d, want %d", v, got, want)
		}
	}
	for range 20 {
		raw, err := base64.StdEncoding.DecodeString(randomUIN())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := strconv.ParseUint(string(raw), 10, 32); err != nil {
			t.Fatalf("X-WECHAT-UIN decodes to %q", raw)
		}
	}
}

// TestFakeRefuses makes sure the fake server refuses what the real one
// would, so that the end-to-end tests passing means something.
func TestFakeRefuses(t *testing.T) {
	f := newFakeILink(t)
	c := api{http: &http.Client{}}
	ctx := context.Background()
	code := func() string {
		q, err := c.qrCode(ctx, f.qr.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		return q.QRCode
	}()
	tok := f.setQR(code, qrConfirmed)
	acct := account{Token: tok, BotID: fakeBotID, BaseURL: f.api.URL}
	f.says(alice, "hi")
	resp, err := c.getUpdates(ctx, acct, "", defaultLongPoll)
	if err != nil || len(resp.Msgs) != 1 {
		t.Fatalf("getupdates: %+v, %v", resp, err)
	}
	ctxTok := resp.Msgs[0].ContextToken

	cases := []struct {
		name string
		call func() error
	}{
		{"no token", func() error {
			_, err := c.getUpdates(ctx, account{BaseURL: f.api.URL}, "", defaultLongPoll)
			return err
		}},
		{"wrong token", func() error {
			_, err := c.getUpdates(ctx, account{Token: "forged", BaseURL: f.api.URL}, "", defaultLongPoll)
			return err
		}},
		{"bot call on the login host", func() error {
			_, err := c.sendText(ctx, account{Token: tok, BaseURL: f.qr.URL}, alice, ctxTok, "c1", "x")
			return err
		}},
		{"no context token", func() error { _, err := c.sendText(ctx, acct, alice, "", "c2", "x"); return err }},
		{"another user", func() error { _, err := c.sendText(ctx, acct, bob, ctxTok, "c3", "x"); return err }},
		{"empty text", func() error { _, err := c.sendText(ctx, acct, alice, ctxTok, "c4", " "); return err }},
		{"missing headers", func() error {
			req, _ := http.NewRequest(http.MethodPost, f.api.URL+"/ilink/bot/getupdates", strings.NewReader(`{"get_updates_buf":"","base_info":{}}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return errors.New(resp.Status)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		if err := tc.call(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := c.sendText(ctx, acct, alice, ctxTok, "c5", "fine"); err != nil {
		t.Errorf("a good reply was refused: %v", err)
	}
	f.expireTokens()
	if _, err := c.getUpdates(ctx, acct, "", defaultLongPoll); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("stale token: %v, want ErrSessionExpired", err)
	}
	if _, err := c.sendText(ctx, acct, alice, ctxTok, "c6", "x"); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("stale token on send: %v, want ErrSessionExpired", err)
	}
}

// TestTranslate covers how iLink messages become what the core takes.
func TestTranslate(t *testing.T) {
	toks := newTokens(Config{UpTokens: []string{"+1"}})
	ours := func(id string) bool { return id == "900" }
	text := func(s string) []messageItem { return []messageItem{{Type: itemText, TextItem: &textItem{Text: s}}} }
	quote := func(s string, ref refMessage) []messageItem {
		return []messageItem{{Type: itemText, TextItem: &textItem{Text: s}, RefMsg: &ref}}
	}
	msg := func(items []messageItem) weixinMessage {
		return weixinMessage{MessageID: "18446744073709551615", FromUserID: alice, MessageType: messageTypeUser, ItemList: items, ContextToken: "c"}
	}
	chat := chatOf(alice)
	for _, tc := range []struct {
		name string
		in   weixinMessage
		want inbound
	}{
		{"question", msg(text(" hi ")), inbound{kind: kindMessage, msg: bot.Message{Platform: Platform, ChatID: chat, MessageID: "18446744073709551615", SenderID: alice, Text: "hi", IsDirect: true}}},
		{"bot's own", weixinMessage{FromUserID: alice, MessageType: messageTypeBot, ItemList: text("x")}, inbound{}},
		{"no sender", weixinMessage{ItemList: text("x")}, inbound{}},
		{"thumbs", msg(text("👍🏻👍")), inbound{kind: kindReaction, reaction: bot.Reaction{Platform: Platform, ChatID: chat, UserID: alice, Kind: bot.ReactionUp}}},
		{"configured up token", msg(text("+1")), inbound{kind: kindReaction, reaction: bot.Reaction{Platform: Platform, ChatID: chat, UserID: alice, Kind: bot.ReactionUp}}},
		{"quoted 踩 by text", msg(quote("踩", refMessage{MessageItem: &messageItem{Type: itemText, TextItem: &textItem{Text: "【B】an answer…"}}})),
			inbound{kind: kindReaction, reaction: bot.Reaction{Platform: Platform, ChatID: chat, UserID: alice, Kind: bot.ReactionDown, QuotedText: "an answer…"}}},
		{"quoted /good by our id", msg(quote("/good", refMessage{SvrID: "900", MessageItem: &messageItem{Type: itemText, TextItem: &textItem{Text: "t"}}})),
			inbound{kind: kindReaction, reaction: bot.Reaction{Platform: Platform, ChatID: chat, UserID: alice, Kind: bot.ReactionUp, MessageID: "900"}}},
		{"quoted [强] by an unknown id only", msg(quote("[强]", refMessage{SvrID: "901"})),
			inbound{kind: kindReaction, reaction: bot.Reaction{Platform: Platform, ChatID: chat, UserID: alice, Kind: bot.ReactionUp, MessageID: "901"}}},
		{"quoted [强] by an unknown id and text", msg(quote("[强]", refMessage{SvrID: "901", Title: "summary"})),
			inbound{kind: kindReaction, reaction: bot.Reaction{Platform: Platform, ChatID: chat, UserID: alice, Kind: bot.ReactionUp, QuotedText: "summary"}}},
		{"regen", msg(text("换一个")), inbound{kind: kindMessage, msg: bot.Message{Platform: Platform, ChatID: chat, MessageID: "18446744073709551615", SenderID: alice, Text: "/regen", IsDirect: true}}},
		{"quoted regen", msg(quote("/regen", refMessage{SvrID: "900"})), inbound{kind: kindReaction, reaction: bot.Reaction{Platform: Platform, ChatID: chat, UserID: alice, Kind: bot.ReactionRegen, MessageID: "900"}}},
		{"bare B", msg(text("B")), inbound{kind: kindMessage, msg: bot.Message{Platform: Platform, ChatID: chat, MessageID: "18446744073709551615", SenderID: alice, Text: "B", IsDirect: true}}},
		{"quoted a", msg(quote("a", refMessage{SvrID: "900"})), inbound{kind: kindReaction, reaction: bot.Reaction{Platform: Platform, ChatID: chat, UserID: alice, Kind: bot.ReactionChooseA, MessageID: "900"}}},
		{"quote question", msg(quote("why?", refMessage{MessageItem: &messageItem{Type: itemText, TextItem: &textItem{Text: "answer"}}})),
			inbound{kind: kindMessage, msg: bot.Message{Platform: Platform, ChatID: chat, MessageID: "18446744073709551615", SenderID: alice, Text: "why?", IsDirect: true, QuotedText: "answer"}}},
		{"voice with text", msg([]messageItem{{Type: itemVoice, VoiceItem: &voiceItem{Text: "what time"}}}),
			inbound{kind: kindMessage, msg: bot.Message{Platform: Platform, ChatID: chat, MessageID: "18446744073709551615", SenderID: alice, Text: "what time", IsDirect: true}}},
		{"voice without text", msg([]messageItem{{Type: itemVoice, VoiceItem: &voiceItem{}}}), inbound{kind: kindMedia}},
		{"file", msg([]messageItem{{Type: itemFile, FileItem: &fileItem{FileName: "a.pdf"}}}), inbound{kind: kindMedia}},
		{"video", msg([]messageItem{{Type: itemVideo, VideoItem: &struct{}{}}}), inbound{kind: kindMedia}},
		{"unknown item", msg([]messageItem{{Type: 11}}), inbound{}},
	} {
		got := translate(tc.in, toks, ours)
		if tc.want.kind != kindIgnore {
			tc.want.from, tc.want.contextToken = tc.in.FromUserID, tc.in.ContextToken
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(inbound{})); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tc.name, diff)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{BaseURL: DefaultBaseURL, StateFile: "/x/s.json", PartChars: 600, MaxParts: 6}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"ftp URL":       func(c *Config) { c.BaseURL = "ftp://a" },
		"relative URL":  func(c *Config) { c.BaseURL = "ilinkai.weixin.qq.com" },
		"query":         func(c *Config) { c.BaseURL = "https://a/?x=1" },
		"part_chars 10": func(c *Config) { c.PartChars = 10 },
		"max_parts 0":   func(c *Config) { c.MaxParts = 0 },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

func TestDefaultStateFile(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	if got := DefaultStateFile(); got != "/state/chatloop/wechat-ilink.json" {
		t.Errorf("with XDG_STATE_HOME: %s", got)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := DefaultStateFile(); got != "/home/u/.local/state/chatloop/wechat-ilink.json" {
		t.Errorf("home fallback: %s", got)
	}
}

func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", "s.json")
	if s, err := loadState(path); err != nil || s.Account.Token != "" {
		t.Fatalf("missing file: %+v, %v", s, err)
	}
	want := state{Account: account{Token: "t", BotID: "b", BaseURL: "https://x"}, GetUpdatesBuf: "buf"}
	if err := saveState(path, want); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, path)
	got, err := loadState(path)
	if err != nil || got.Account != want.Account || got.GetUpdatesBuf != "buf" {
		t.Errorf("read back %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(path); err == nil || !strings.Contains(err.Error(), "delete the file") {
		t.Errorf("corrupt file: %v", err)
	}
}

// TestCorruptStateIsPermanent checks that a state file that cannot be
// read stops the adapter with a permanent error, leaving the file alone.
func TestCorruptStateIsPermanent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{BaseURL: "http://127.0.0.1:1", StateFile: path, PartChars: 600, MaxParts: 6}, nullHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if !errors.Is(err, platform.ErrPermanent) || !strings.Contains(err.Error(), path) {
		t.Errorf("Run: %v, want a permanent error naming the file", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not json" {
		t.Errorf("the file was changed to %q", b)
	}
}

func TestRedirectBase(t *testing.T) {
	for host, want := range map[string]string{
		"sh.ilinkai.weixin.qq.com": "https://sh.ilinkai.weixin.qq.com",
		"h:8443":                   "https://h:8443",
		"":                         "",
		"a/b":                      "",
		"x@y":                      "",
	} {
		got, ok := redirectBase("https://ilinkai.weixin.qq.com", host)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", host, got, ok, want)
		}
	}
}

func TestParts(t *testing.T) {
	a := &Adapter{cfg: Config{PartChars: 60, MaxParts: 2}}
	ps := a.parts(strings.Repeat("word ", 100))
	if len(ps) != 2 || !strings.HasSuffix(ps[1], cutNote) {
		t.Fatalf("parts %q", ps)
	}
	for _, p := range ps {
		if n := len([]rune(p)); n > 60 {
			t.Errorf("part of %d characters", n)
		}
	}
}
