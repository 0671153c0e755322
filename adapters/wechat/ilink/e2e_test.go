package ilink

import (
	"context"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
)

const (
	alice = "o9cq800kum@im.wechat"
	bob   = "o9cq801bob@im.wechat"
)

// TestEndToEnd drives the adapter against the fake iLink server with the
// real core, the demo generator and the bbolt feedback store: a QR login
// whose confirmation moves the bot's calls to another base URL, an answer
// with a typing indicator, a quote-reply 👍 matched by the quoted text and
// a [弱] matched by the server message id (a uint64 above 2^53), an
// unquoted 👍, /regen and a quoted 换一个, the text-only notice, a voice
// transcription answered as text, and a 3,000-character answer in parts.
func TestEndToEnd(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core := startCore(t, store, 0)
	cfg := testConfig(f, dir)
	r := startAdapter(t, cfg, core)

	// QR login: the terminal and a 0600 PNG show the code the server
	// issued; once confirmed, the token is stored 0600 and never logged.
	code := f.waitQR(t, 1)
	waitFor(t, "the QR image", 5*time.Second, func() bool { _, err := os.Stat(cfg.qrFile()); return err == nil })
	checkQRImage(t, cfg.qrFile(), "https://liteapp.weixin.qq.com/q/"+code+"?bot_type=3")
	checkPrivate(t, cfg.qrFile())
	if !strings.Contains(r.qr.String(), "▀") {
		t.Errorf("no QR code in the terminal:\n%s", r.qr.String())
	}
	tok := qrLogin(t, f, r, 1)
	if _, err := os.Stat(cfg.qrFile()); !os.IsNotExist(err) {
		t.Errorf("the QR image is still there after the login: %v", err)
	}
	checkPrivate(t, cfg.StateFile)
	st, err := loadState(cfg.StateFile)
	if err != nil || st.Account.Token != tok || st.Account.BotID != fakeBotID || st.Account.BaseURL != f.api.URL {
		t.Fatalf("stored login %+v, %v; want token %s on %s", st.Account, err, tok, f.api.URL)
	}

	// An answer, in the conversation of the question, with "typing…".
	f.says(alice, "hello there")
	ans := f.waitSent(t, 0, 1)[0]
	if ans.To != alice || ans.ContextToken != "ctx-o9cq800kum-1" || !strings.Contains(ans.Text, "You said: hello there") || ans.Token != tok {
		t.Fatalf("answer %+v", ans)
	}
	a1 := answerOf(t, store, ans.MessageID)
	if a1.ChatID != chatOf(alice) || a1.Platform != "wechat" {
		t.Errorf("answer recorded in %s/%s", a1.Platform, a1.ChatID)
	}
	waitFor(t, "typing shown and cancelled", 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Contains(f.typing, fakeTyping{alice, typingOn}) && slices.Contains(f.typing, fakeTyping{alice, typingCancel})
	})

	// A quote-reply 👍 of the answer, matched by the quoted text (WeChat
	// shortens it): a vote, and no answer from the model.
	f.quotes(alice, "👍", map[string]any{"message_item": textIt(ans.Text[:30] + "…")})
	waitVote(t, store, a1.ID, alice, 1)

	f.says(alice, "second question")
	next := f.waitSent(t, 1, 1)
	if len(next) != 1 || !strings.Contains(next[0].Text, "You said: second question") {
		t.Fatalf("after the vote, sent %+v; want only the answer to the second question", next)
	}
	a2 := answerOf(t, store, next[0].MessageID)

	// A quote-reply [弱] that carries only the server id of the answer.
	f.quotes(alice, "[弱]", map[string]any{"svr_id": bigIDFrom(t, next[0].MessageID)})
	waitVote(t, store, a2.ID, alice, -1)
	// An unquoted 👍 votes on the latest answer to its sender.
	f.says(alice, "👍🏻")
	waitVote(t, store, a2.ID, alice, 1)

	// /regen: another answer to the last question, a sibling of it.
	n := f.sentCount()
	f.says(alice, "/regen")
	regen := f.waitSent(t, n, 1)[0]
	a3 := answerOf(t, store, regen.MessageID)
	if a3.GroupID != a2.GroupID || a3.ID == a2.ID || !strings.Contains(regen.Text, "You said: second question") || regen.ContextToken == next[0].ContextToken {
		t.Errorf("regen answer %+v (group %s), want a new sibling of %s in the /regen message's conversation", regen, a3.GroupID, a2.GroupID)
	}
	// 换一个 quoting the first answer: an alternative to that one.
	n = f.sentCount()
	f.quotes(alice, "换一个", map[string]any{"message_item": textIt(ans.Text)})
	alt := f.waitSent(t, n, 1)[0]
	if a4 := answerOf(t, store, alt.MessageID); a4.GroupID != a1.GroupID || !strings.Contains(alt.Text, "You said: hello there") {
		t.Errorf("quoted 换一个 gave %+v, want an alternative to %q", alt, ans.Text)
	}

	// A picture gets the text-only notice; a voice message with a
	// transcription is answered as text.
	n = f.sentCount()
	f.push(bob, map[string]any{"type": itemImage, "image_item": map[string]any{"media": map[string]any{"encrypt_query_param": "x"}}})
	if got := f.waitSent(t, n, 1)[0]; got.To != bob || got.Text != cfg.MediaReply {
		t.Errorf("picture answered with %+v", got)
	}
	f.push(bob, map[string]any{"type": itemVoice, "voice_item": map[string]any{"text": "what time is it", "playtime": 1200}})
	if got := f.waitSent(t, n+1, 1)[0]; !strings.Contains(got.Text, "You said: what time is it") {
		t.Errorf("voice answered with %+v", got)
	}

	// A 3,000-character answer goes out in parts, each within part_chars,
	// all in the question's conversation and all mapped to one answer.
	n = f.sentCount()
	long := strings.Repeat("这是一个很长的问题，", 296) + "完" // the answer: about 3,000 characters
	f.says(bob, long)
	want := "You said: " + long
	var parts []fakeSent
	waitFor(t, "the long answer", 10*time.Second, func() bool {
		parts = f.waitSent(t, n, 1)
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return strings.Contains(b.String(), "完")
	})
	if len(parts) < 5 {
		t.Fatalf("a %d-character answer went out in %d parts", utf8.RuneCountInString(want), len(parts))
	}
	var joined strings.Builder
	var first bot.AnswerID
	for i, p := range parts {
		if c := utf8.RuneCountInString(p.Text); c > cfg.PartChars {
			t.Errorf("part %d has %d characters, over %d", i, c, cfg.PartChars)
		}
		if p.To != bob || p.ContextToken != parts[0].ContextToken {
			t.Errorf("part %d sent to %s in %s", i, p.To, p.ContextToken)
		}
		a := answerOf(t, store, p.MessageID)
		if i == 0 {
			first = a.ID
		} else if a.ID != first {
			t.Errorf("part %d maps to answer %s, want %s", i, a.ID, first)
		}
		joined.WriteString(p.Text)
	}
	if !strings.Contains(strings.Join(strings.Fields(joined.String()), ""), strings.Join(strings.Fields(want), "")) {
		t.Errorf("the parts do not add up to the answer")
	}

	// The bot token never reaches the log, and the fake refused nothing.
	if strings.Contains(r.logs.String(), tok) {
		t.Error("the bot token is in the log")
	}
	if got := f.refusals(); len(got) > 0 {
		t.Errorf("the server refused: %q", got)
	}
	// Every call went where it should: QR calls to ilink_base_url, the
	// bot's calls to the base URL the login named.
	f.mu.Lock()
	for _, p := range f.calls["qr"] {
		if !strings.Contains(p, "qrcode") {
			t.Errorf("bot call %s on the login host", p)
		}
	}
	if !slices.Contains(f.notices, "ilink/bot/msg/notifystart") {
		t.Errorf("no notifystart; notices %q", f.notices)
	}
	f.mu.Unlock()
}

// TestRestartWithoutQR stops the adapter and starts a new one on the same
// state file: no QR code, the stored long-poll cursor is sent on, and a
// message sent while chatloop was down is answered exactly once, earlier
// ones not again.
func TestRestartWithoutQR(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core := startCore(t, store, 0)
	cfg := testConfig(f, dir)
	r := startAdapter(t, cfg, core)
	tok := qrLogin(t, f, r, 1)
	f.says(alice, "before the restart")
	f.waitSent(t, 0, 1)
	r.stop(t)
	f.mu.Lock()
	lastBuf := f.bufs[len(f.bufs)-1]
	stopped := slices.Contains(f.notices, "ilink/bot/msg/notifystop")
	f.mu.Unlock()
	if !stopped {
		t.Error("no notifystop on the way out")
	}

	f.says(alice, "while chatloop was down")
	polls := len(f.bufs)
	r2 := startAdapter(t, cfg, core)
	got := f.waitSent(t, 1, 1)
	if !strings.Contains(got[0].Text, "You said: while chatloop was down") || got[0].Token != tok {
		t.Fatalf("after the restart sent %+v", got)
	}
	f.mu.Lock()
	firstBuf := f.bufs[polls]
	qrs := len(f.qrs)
	f.mu.Unlock()
	if qrs != 1 || strings.Contains(r2.qr.String(), "Scan") {
		t.Errorf("the restart showed a QR code (%d issued)", qrs)
	}
	if firstBuf != lastBuf {
		t.Errorf("the restart polled with buf %q, want the stored %q", firstBuf, lastBuf)
	}
	time.Sleep(300 * time.Millisecond) // two idle polls: nothing is replayed
	if n := f.sentCount(); n != 2 {
		t.Errorf("%d messages sent, want 2 (nothing replayed)", n)
	}
}

// TestSessionExpiry expires the bot token: the adapter logs it, shows a
// new QR code without giving up or polling in a loop, offers the old
// token in local_token_list, and after the scan answers the message sent
// during the re-login, from the same cursor.
func TestSessionExpiry(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core := startCore(t, store, 0)
	cfg := testConfig(f, dir)
	r := startAdapter(t, cfg, core)
	old := qrLogin(t, f, r, 1)
	f.says(alice, "first")
	f.waitSent(t, 0, 1)

	f.expireTokens()
	f.waitQR(t, 2)
	waitFor(t, "the expiry in the log", 5*time.Second, func() bool { return strings.Contains(r.logs.String(), "errcode -14") })
	f.says(alice, "during the re-login")
	time.Sleep(200 * time.Millisecond)
	f.mu.Lock()
	stalePolls := f.pollsBy[old]
	list := f.qrLists[1]
	f.mu.Unlock()
	if stalePolls > 2 {
		t.Errorf("%d polls with the stale token; want the adapter to stop polling and log in", stalePolls)
	}
	if !slices.Equal(list, []string{old}) {
		t.Errorf("local_token_list %q, want the stale token", list)
	}
	if f.sentCount() != 1 {
		t.Error("something was sent while logged out")
	}
	st, err := loadState(cfg.StateFile)
	if err != nil || !st.Expired {
		t.Errorf("state %+v, %v: want the login marked expired", st, err)
	}

	tok := qrLogin(t, f, r, 2)
	got := f.waitSent(t, 1, 1)[0]
	if !strings.Contains(got.Text, "You said: during the re-login") || got.Token != tok {
		t.Errorf("after the re-login sent %+v", got)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v during the re-login", err)
	default:
	}
	if got := f.refusals(); len(got) > 0 {
		t.Errorf("the server refused: %q", got)
	}
}

// TestSendDuringExpiry expires the session while an answer is being
// written: its send finds the token stale, waits for the QR login, and is
// delivered with the new token.
func TestSendDuringExpiry(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core := startCoreWith(t, store, 0, &demo.Generator{Delay: 40 * time.Millisecond})
	r := startAdapter(t, testConfig(f, dir), core)
	qrLogin(t, f, r, 1)
	f.says(alice, "a question with quite a few words in it")
	waitFor(t, "typing", 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Contains(f.typing, fakeTyping{alice, typingOn})
	})
	f.expireTokens()
	tok := qrLogin(t, f, r, 2)
	got := f.waitSent(t, 0, 1)[0]
	if got.Token != tok || !strings.Contains(got.Text, "quite a few words") {
		t.Errorf("sent %+v, want the answer with the new token", got)
	}
	answerOf(t, store, got.MessageID)
}

// TestSendFindsExpiry expires the session just before an answer is sent,
// while the long poll is held and has not noticed: the send itself finds
// the token stale, ends the session, and is delivered after the QR login.
func TestSendFindsExpiry(t *testing.T) {
	f := newFakeILink(t)
	f.hold = time.Second
	f.lateExpiry = true
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core := startCoreWith(t, store, 0, generatorFunc(func(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
		f.expireTokens()
		return demo.New().Generate(ctx, req, onToken)
	}))
	r := startAdapter(t, testConfig(f, dir), core)
	qrLogin(t, f, r, 1)
	f.says(alice, "expire now")
	f.waitQR(t, 2)
	f.mu.Lock()
	stale := f.staleSends
	f.lateExpiry = false
	f.mu.Unlock()
	if stale == 0 {
		t.Fatal("no send found the token stale; the test did not exercise the send path")
	}
	tok := qrLogin(t, f, r, 2)
	got := f.waitSent(t, 0, 1)[0]
	if got.Token != tok || !strings.Contains(got.Text, "You said: expire now") {
		t.Errorf("sent %+v, want the answer with the new token", got)
	}
}

type generatorFunc func(context.Context, bot.Request, func(string)) (bot.Result, error)

func (g generatorFunc) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	return g(ctx, req, onToken)
}

// TestServerErrors covers failures as the reference handles them: failed
// polls are retried (and backed off after three in a row) without losing
// messages, and a refused answer is not retried but followed by one short
// notice.
func TestServerErrors(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core := startCore(t, store, 0)
	r := startAdapter(t, testConfig(f, dir), core)
	qrLogin(t, f, r, 1)

	f.mu.Lock()
	f.failPolls = 4
	f.mu.Unlock()
	f.says(alice, "through an outage")
	if got := f.waitSent(t, 0, 1)[0]; !strings.Contains(got.Text, "You said: through an outage") {
		t.Fatalf("after failed polls sent %+v", got)
	}
	waitFor(t, "the back-off in the log", 5*time.Second, func() bool { return strings.Contains(r.logs.String(), "backing off") })

	f.mu.Lock()
	f.failSends = 1
	f.mu.Unlock()
	f.says(alice, "over quota")
	got := f.waitSent(t, 1, 1)[0]
	if got.Text != failNotice {
		t.Errorf("after a refused answer sent %q, want the failure notice", got.Text)
	}
	time.Sleep(200 * time.Millisecond)
	if n := f.sentCount(); n != 2 {
		t.Errorf("%d messages sent, want 2: the refused answer is not retried", n)
	}
}

// TestChoices runs A/B mode: both labelled answers go out, then a bare
// "B" and a quoted "A" record choices.
func TestChoices(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core := startCore(t, store, 1)
	r := startAdapter(t, testConfig(f, dir), core)
	qrLogin(t, f, r, 1)

	f.says(alice, "which is better")
	sent := f.waitSent(t, 0, 3) // A, B, "which is better?"
	if !strings.HasPrefix(sent[0].Text, "【A】") || !strings.HasPrefix(sent[1].Text, "【B】") {
		t.Fatalf("A/B answers %q, %q", sent[0].Text, sent[1].Text)
	}
	a, b := answerOf(t, store, sent[0].MessageID), answerOf(t, store, sent[1].MessageID)
	f.says(alice, "B")
	waitFor(t, "choice B", 5*time.Second, func() bool { return store.choiceOf(b.ID, a.ID, alice) })
	if thanks := f.waitSent(t, 3, 1)[0]; strings.Contains(thanks.Text, "You said") {
		t.Fatalf("after the choice sent %q, want the core's thanks", thanks.Text)
	}

	n := 4
	f.says(alice, "another one")
	sent = f.waitSent(t, n, 3)
	a2, b2 := answerOf(t, store, sent[0].MessageID), answerOf(t, store, sent[1].MessageID)
	f.quotes(alice, "A", map[string]any{"message_item": textIt(sent[0].Text)})
	waitFor(t, "quoted choice A", 5*time.Second, func() bool { return store.choiceOf(a2.ID, b2.ID, alice) })
}

// TestLongPollTimeout checks that longpolling_timeout_ms from the server
// replaces the reference's 35 s: a poll the server holds is given up
// after the time it named.
func TestLongPollTimeout(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	r := startAdapter(t, testConfig(f, dir), &nullHandler{})
	qrLogin(t, f, r, 1)
	f.mu.Lock()
	f.pollLimitMS = 300
	f.mu.Unlock()
	f.says(alice, "carry the timeout")
	f.mu.Lock()
	f.holdForever = true
	f.mu.Unlock()
	select {
	case <-f.gaveUp:
	case <-time.After(20 * time.Second):
		t.Fatal("the held poll was not given up within 20 s; longpolling_timeout_ms was not honoured")
	}
}

// TestQRLoginPaths walks a QR login through the reference's other
// statuses: an expired code is replaced by a new one, a redirect moves the
// status polls to the host the server names, and the number the phone
// shows is read from the terminal and sent with the next poll.
func TestQRLoginPaths(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	cfg := testConfig(f, dir)
	in, typeIn := io.Pipe()
	t.Cleanup(func() { _ = typeIn.Close() })
	r := &running{logs: &syncBuffer{}, qr: &syncBuffer{}, done: make(chan error, 1)}
	a, err := New(cfg, nullHandler{}, slog.New(slog.NewTextHandler(r.logs, nil)), WithHTTPClient(&http.Client{}), WithQROutput(r.qr), WithCodeInput(in))
	if err != nil {
		t.Fatal(err)
	}
	a.qrPause = 10 * time.Millisecond
	r.a = a
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })

	first := f.waitQR(t, 1)
	f.setQR(first, qrExpired)
	second := f.waitQR(t, 2)
	waitFor(t, "the new code in the terminal", 5*time.Second, func() bool { return strings.Contains(r.qr.String(), second) })

	f.setQR(second, qrRedirect)
	waitFor(t, "polls on the redirected host", 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.byQR[second].polls["api"] > 0
	})
	f.mu.Lock()
	f.byQR[second].verify = "42"
	f.mu.Unlock()
	f.setQR(second, qrNeedVerifyCode)
	waitFor(t, "the prompt for the number", 5*time.Second, func() bool { return strings.Contains(r.qr.String(), "Type the number") })
	if _, err := io.WriteString(typeIn, "42\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the number accepted", 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.byQR[second].status == qrScanned
	})
	tok := f.setQR(second, qrConfirmed)
	waitFor(t, "login", 5*time.Second, func() bool { l := a.current(); return l != nil && l.acct.Token == tok })
	if got := f.refusals(); len(got) > 0 {
		t.Errorf("the server refused: %q", got)
	}
}

type nullHandler struct{}

func (nullHandler) HandleMessage(context.Context, bot.Message, bot.Replier)   {}
func (nullHandler) HandleReaction(context.Context, bot.Reaction, bot.Replier) {}
func (nullHandler) Withdraw(string, bot.ChatID, bot.MessageID)                {}

// bigIDFrom is a message id as the fake writes it: a bare JSON number.
func bigIDFrom(t *testing.T, s string) bigID {
	t.Helper()
	var id wireID
	if err := id.UnmarshalJSON([]byte(s)); err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range s {
		n = n*10 + uint64(c-'0')
	}
	return bigID(n)
}

func checkPrivate(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
}

// checkQRImage decodes the PNG and compares its modules with a QR code of
// want.
func checkQRImage(t *testing.T, path, want string) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("QR image: %v", err)
	}
	q, err := qrcode.New(want, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bits := q.Bitmap()
	size := img.Bounds().Dx()
	centre := func(i int) int { return int((float64(i) + 0.5) * float64(size) / float64(len(bits))) }
	mismatch := 0
	for y, row := range bits {
		for x, black := range row {
			r, g, b, _ := img.At(centre(x), centre(y)).RGBA()
			if ((r+g+b)/3 < 0x8000) != black {
				mismatch++
			}
		}
	}
	if mismatch > 0 {
		t.Errorf("QR image differs from a code of %q in %d modules", want, mismatch)
	}
}
