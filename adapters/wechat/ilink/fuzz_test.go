package ilink

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chatloop/chatloop/bot"
)

// FuzzTranslate feeds arbitrary getupdates answers through decoding and
// translation: nothing panics, ids stay uint64 digits, and what reaches
// the core is well formed.
func FuzzTranslate(f *testing.F) {
	for _, seed := range []string{
		`{"ret":0,"msgs":[{"seq":1,"message_id":18446744073709551615,"from_user_id":"u@im.wechat","to_user_id":"b@im.bot","message_type":1,"message_state":2,"item_list":[{"type":1,"text_item":{"text":"hello"}}],"context_token":"c"}],"get_updates_buf":"YQ=="}`,
		`{"msgs":[{"message_id":"7","from_user_id":"u","item_list":[{"type":1,"text_item":{"text":"👍"},"ref_msg":{"svr_id":9007199254740993,"message_item":{"type":1,"text_item":{"text":"【A】x"}}}}]}]}`,
		`{"msgs":[{"from_user_id":"u","item_list":[{"type":3,"voice_item":{"text":"换一个"}},{"type":2,"image_item":{}}]}]}`,
		`{"msgs":[{"from_user_id":"u","item_list":[{"type":1,"msg_id":"12","text_item":{"text":"b"},"ref_msg":{"title":"t"}}]}]}`,
		`{"ret":-14,"errcode":-14,"errmsg":"session timeout"}`,
		`{"msgs":[{"from_user_id":"u","message_type":2,"item_list":[{"type":5,"video_item":{}}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	toks := newTokens(Config{UpTokens: []string{"+1", "好"}, DownTokens: []string{"-1"}, RegenTokens: []string{"again"}})
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp getUpdatesResp
		if err := json.Unmarshal(data, &resp); err != nil {
			return
		}
		isID := func(s bot.MessageID) bool {
			if s == "" {
				return true
			}
			_, err := strconv.ParseUint(string(s), 10, 64)
			return err == nil
		}
		for _, m := range resp.Msgs {
			in := translate(m, toks, func(id string) bool { return strings.HasSuffix(id, "7") })
			switch in.kind {
			case kindIgnore:
				if in.from != "" || in.msg.Text != "" || in.reaction.Kind != 0 {
					t.Fatalf("ignored message carries %+v", in)
				}
			case kindMessage:
				msg := in.msg
				if msg.Text == "" || msg.Text != strings.TrimSpace(msg.Text) || !utf8.ValidString(msg.Text) {
					t.Fatalf("message text %q", msg.Text)
				}
				if msg.Platform != Platform || msg.ChatID != chatOf(m.FromUserID) || !msg.IsDirect || msg.SenderID != bot.UserID(m.FromUserID) {
					t.Fatalf("message %+v from %q", msg, m.FromUserID)
				}
				if !isID(msg.MessageID) || !isID(msg.ReplyTo) || (msg.ReplyTo != "" && msg.QuotedText != "") {
					t.Fatalf("ids %q %q quoted %q", msg.MessageID, msg.ReplyTo, msg.QuotedText)
				}
				if in.contextToken != m.ContextToken || in.from != m.FromUserID {
					t.Fatalf("reply context %q to %q", in.contextToken, in.from)
				}
			case kindReaction:
				x := in.reaction
				if x.Kind < bot.ReactionUp || x.Kind > bot.ReactionChooseB || x.ChatID != chatOf(m.FromUserID) || x.Platform != Platform {
					t.Fatalf("reaction %+v", x)
				}
				if !isID(x.MessageID) || (x.MessageID != "" && x.QuotedText != "") {
					t.Fatalf("reaction target %q / %q", x.MessageID, x.QuotedText)
				}
			case kindMedia:
				if in.from == "" {
					t.Fatal("media notice without a recipient")
				}
			}
			if m.MessageType == messageTypeBot && in.kind != kindIgnore {
				t.Fatalf("the bot's own message translated to %v", in.kind)
			}
		}
	})
}
