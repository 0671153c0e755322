package wechat

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/chatloop/chatloop/bot"
)

const separator = "\n- - - - - - - - - - - - - - -\n"

// TestTranslation drives the real openwechat client through the fake
// server and checks what the adapter hands the handler for each kind of
// WeChat message.
func TestTranslation(t *testing.T) {
	f := newFakeWeChat(t)
	h := &recorder{}
	cfg := testConfig(t.TempDir())
	r := startAdapter(t, f, cfg, h)
	qrLogin(t, f, r, 1, 1)

	group := "group:Test Group"
	f.push(
		f.groupText("@bob01", "@小助手\u2005what is 2+2?"),
		f.groupText("@dave01", "hello @LoopBot how are you"),
		f.groupText("@erin01", "just chatting"),
		f.groupText("@alice01", "@小助手 hi"),
		f.text("@alice01", "hi <b> & bye"),
		fakeMsg{FromUserName: "@carol01", MsgType: 1, Content: `<span class="emoji emoji1f44d"></span>`},
	)
	waitFor(t, "six events", 5*time.Second, func() bool { m, x := h.counts(); return m+x >= 6 })

	// Answer Bob through his replier, as the core would: the answer
	// @mentions him, and is remembered for quote-replies.
	h.mu.Lock()
	bobReplier, daveReplier := h.repliers[0], h.repliers[1]
	h.mu.Unlock()
	var sentIDs []bot.MessageID
	stream(t, bobReplier, bot.Outgoing{AnswerID: "ans-1", Sent: func(id bot.MessageID) { sentIDs = append(sentIDs, id) }}, "The answer ", "is 4.")
	got := f.sentSince(0)
	if len(got) != 1 || got[0].To != "@@group01" || got[0].Content != "@Bobby\u2005The answer is 4." {
		t.Fatalf("sent %+v, want one message to the group @mentioning Bobby", got)
	}
	if len(sentIDs) != 1 || string(sentIDs[0]) != got[0].MsgID {
		t.Fatalf("Sent called with %v, want [%s]", sentIDs, got[0].MsgID)
	}
	// An A/B answer to Dave makes a bare "b" from him a choice.
	stream(t, daveReplier, bot.Outgoing{AnswerID: "ans-2", Label: "A"}, "first option")
	if got := f.sentSince(1); len(got) != 1 || got[0].Content != "@Dave\u2005【A】first option" {
		t.Fatalf("A/B answer sent as %+v", got)
	}

	old := f.text("@alice01", "an old message")
	old.CreateTime = time.Now().Add(-time.Hour).Unix()
	dup := f.text("@carol01", "twice")
	dup.MsgId = "777"
	f.push(
		f.groupText("@bob01", "「小助手：@Bobby The answer is」"+separator+"[强]"),
		f.groupText("@bob01", "「小助手：something I never said」"+separator+"[弱]"),
		f.text("@carol01", "换一个"),
		f.groupText("@dave01", "换一个"),
		f.groupText("@erin01", "A"),
		f.groupText("@dave01", "b"),
		f.groupText("@bob01", "「小助手：@Bobby The answer is 4.」"+separator+"why?"),
		fakeMsg{FromUserName: "@mp01", MsgType: 1, Content: "news of the day"},
		fakeMsg{FromUserName: "@self0001", ToUserName: "@alice01", MsgType: 1, Content: "typed on the phone"},
		fakeMsg{FromUserName: "@@group01", MsgType: 10000, Content: "收到红包，请在手机上查看"},
		fakeMsg{FromUserName: "fmessage", MsgType: 37, Content: escapeContent(`<msg fromusername="wxid_x" fromnickname="Stranger" content="hi"/>`)},
		fakeMsg{FromUserName: "@alice01", MsgType: 49, AppMsgType: 2000, FileName: "微信转账", Content: "transfer"},
		fakeMsg{FromUserName: "@@group01", MsgType: 3, Content: "@bob01:<br/>"},
		fakeMsg{FromUserName: "@alice01", MsgType: 10002, Content: escapeContent(`<sysmsg type="revokemsg"><revokemsg><session>@alice01</session><oldmsgid>1</oldmsgid><msgid>4242</msgid><replacemsg>Alice recalled a message</replacemsg></revokemsg></sysmsg>`)},
		old, dup, dup,
		f.text("@alice01", "sentinel"),
	)
	waitFor(t, "the sentinel", 5*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.messages) > 0 && h.messages[len(h.messages)-1].Text == "sentinel"
	})

	h.mu.Lock()
	msgs, reactions, withdrawn := slices.Clone(h.messages), slices.Clone(h.reactions), slices.Clone(h.withdrawn)
	h.mu.Unlock()

	wantMsgs := []bot.Message{
		{ChatID: bot.ChatID(group), SenderID: "~Bob", SenderName: "Bobby", Text: "what is 2+2?", MentionsBot: true},
		{ChatID: bot.ChatID(group), SenderID: "~Dave", SenderName: "Dave", Text: "hello how are you", MentionsBot: true},
		{ChatID: bot.ChatID(group), SenderID: "~Erin", SenderName: "Erin", Text: "just chatting"},
		{ChatID: bot.ChatID(group), SenderID: "alice-remark", SenderName: "Alice", Text: "hi", MentionsBot: true},
		{ChatID: "dm:alice-remark", SenderID: "alice-remark", SenderName: "alice-remark", Text: "hi <b> & bye", IsDirect: true},
		{ChatID: "dm:~Carol", SenderID: "~Carol", SenderName: "Carol", Text: "/regen", IsDirect: true},
		{ChatID: bot.ChatID(group), SenderID: "~Erin", SenderName: "Erin", Text: "A"},
		{ChatID: bot.ChatID(group), SenderID: "~Bob", SenderName: "Bobby", Text: "why?", ReplyTo: sentIDs[0], QuotedText: "The answer is 4."},
		{ChatID: "dm:~Carol", SenderID: "~Carol", SenderName: "Carol", Text: "twice", IsDirect: true},
		{ChatID: "dm:alice-remark", SenderID: "alice-remark", SenderName: "alice-remark", Text: "sentinel", IsDirect: true},
	}
	for i := range wantMsgs {
		wantMsgs[i].Platform = Platform
	}
	ignore := cmpopts.IgnoreFields(bot.Message{}, "MessageID", "Time")
	if diff := cmp.Diff(wantMsgs, msgs, ignore); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	for _, m := range msgs {
		if m.MessageID == "" || m.Time.IsZero() {
			t.Errorf("message %q has no id or time", m.Text)
		}
	}

	wantReactions := []bot.Reaction{
		{ChatID: "dm:~Carol", UserID: "~Carol", Kind: bot.ReactionUp},
		{ChatID: bot.ChatID(group), UserID: "~Bob", Kind: bot.ReactionUp, MessageID: sentIDs[0]},
		{ChatID: bot.ChatID(group), UserID: "~Bob", Kind: bot.ReactionDown, QuotedText: "something I never said"},
		{ChatID: bot.ChatID(group), UserID: "~Dave", Kind: bot.ReactionRegen},
		{ChatID: bot.ChatID(group), UserID: "~Dave", Kind: bot.ReactionChooseB},
	}
	for i := range wantReactions {
		wantReactions[i].Platform = Platform
	}
	if diff := cmp.Diff(wantReactions, reactions); diff != "" {
		t.Errorf("reactions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bot.MessageID{"4242"}, withdrawn); diff != "" {
		t.Errorf("withdrawn (-want +got):\n%s", diff)
	}

	// Nothing but the two answers above was sent: no answer to the MP,
	// the account's own message, notices, transfers or group pictures.
	time.Sleep(300 * time.Millisecond)
	if got := f.sentSince(2); len(got) != 0 {
		t.Errorf("unexpected sends: %+v", got)
	}
	if !strings.Contains(r.logs.String(), "friend request received") {
		t.Errorf("the friend request was not logged")
	}

	// A picture and a voice message in private chats get the text-only
	// notice; in groups nothing.
	f.push(
		fakeMsg{FromUserName: "@carol01", MsgType: 3},
		fakeMsg{FromUserName: "@alice01", MsgType: 34},
	)
	notices := f.waitSent(t, 2, 2)
	for _, n := range notices {
		if n.Content != cfg.MediaReply || (n.To != "@carol01" && n.To != "@alice01") {
			t.Errorf("notice %+v, want %q to Carol and Alice", n, cfg.MediaReply)
		}
	}
	if notices[0].To == notices[1].To {
		t.Errorf("both notices went to %s", notices[0].To)
	}

	// Sync checks that fail without saying the session is gone are
	// retried: no re-login, and messages still arrive.
	inits, uuids := f.count("webwxinit"), f.count("jslogin")
	f.garble(3)
	waitFor(t, "three failed sync checks", 5*time.Second, func() bool { return f.count("synccheck garbled") == 3 })
	f.push(f.text("@alice01", "still there?"))
	waitFor(t, "a message after the failures", 5*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.messages[len(h.messages)-1].Text == "still there?"
	})
	if f.count("webwxinit") != inits || f.count("jslogin") != uuids {
		t.Error("failed sync checks caused a re-login")
	}
	if !strings.Contains(r.logs.String(), "WeChat sync check failed; retrying") {
		t.Error("the failed sync checks were not logged")
	}
	if rej := f.rejections(); len(rej) > 0 {
		t.Errorf("the fake server refused requests: %q", rej)
	}
}

// stream shows an answer through r as the core does and fails the test on
// error.
func stream(t *testing.T, r bot.Replier, out bot.Outgoing, tokens ...string) {
	t.Helper()
	ch := make(chan string, len(tokens))
	for _, tok := range tokens {
		ch <- tok
	}
	close(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stream(ctx, out, ch); err != nil {
		t.Fatalf("Stream: %v", err)
	}
}
