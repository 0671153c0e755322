package wechat

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
	"github.com/chatloop/chatloop/feedback"
)

// startCore runs the real conversation core with the demo generator until
// the returned stop is called (or the test ends).
func startCore(t *testing.T, store bot.FeedbackStore, abProbability float64) (*bot.Core, func()) {
	t.Helper()
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0 // the burst below is about the send throttle
	cfg.Workers = 2
	cfg.ABProbability = abProbability
	core, err := bot.NewCore(bot.Options{Config: cfg, Generator: demo.New(), Store: store, MaxTokens: 256})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = core.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return core, stop
}

// answerOf finds the answer a sent message shows.
func answerOf(t *testing.T, store bot.FeedbackStore, msgID string) bot.Answer {
	t.Helper()
	ctx := context.Background()
	var a bot.Answer
	waitFor(t, "answer of message "+msgID, 5*time.Second, func() bool {
		id, err := store.AnswerByMessage(ctx, Platform, bot.MessageID(msgID))
		if err != nil {
			return false
		}
		a, err = store.Answer(ctx, id)
		return err == nil && a.Finished
	})
	return a
}

// TestEndToEnd runs the real openwechat client against the fake web-WeChat
// server, with the real core, the demo generator and the feedback store:
// QR login, a group @mention answered with an @mention, a quote-reply
// [强] and an unquoted 👍 that become votes, media notices, a burst of
// mentions within the send throttle, a restart from the storage file, and
// both re-login paths after the sync check reports the session gone.
func TestEndToEnd(t *testing.T) {
	f := newFakeWeChat(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core, stopCore := startCore(t, store, 0)
	cfg := testConfig(dir)
	r := startAdapter(t, f, cfg, core)

	// First start: a QR login. The terminal shows the code, the PNG holds
	// the login URL of the uuid the server issued.
	uuid := f.waitQR(t, 1)
	waitFor(t, "the QR code image", 5*time.Second, func() bool { _, err := os.Stat(cfg.qrFile()); return err == nil })
	checkQRImage(t, cfg.qrFile(), qrContentPrefix+uuid)
	if !strings.Contains(r.qr.String(), "▀") {
		t.Errorf("no QR code in the terminal output:\n%s", r.qr.String())
	}
	if !strings.Contains(r.logs.String(), cfg.qrFile()) {
		t.Errorf("the log does not name the QR image %s", cfg.qrFile())
	}
	f.scan(uuid)
	f.confirm(uuid)
	waitLoggedIn(t, r)
	checkPrivate(t, cfg.StorageFile)
	if _, err := os.Stat(cfg.qrFile()); !os.IsNotExist(err) {
		t.Errorf("the QR image is still there after the login: %v", err)
	}

	// A group @mention gets an answer that @mentions the asker.
	f.push(f.groupText("@bob01", "@小助手\u2005what is two plus two?"))
	sent := f.waitSent(t, 0, 1)
	ans := sent[0]
	if ans.To != "@@group01" || !strings.HasPrefix(ans.Content, "@Bobby\u2005[demo") || !strings.Contains(ans.Content, "You said: what is two plus two?") {
		t.Fatalf("group answer %+v, want an @Bobby demo answer in the group", ans)
	}
	a1 := answerOf(t, store, ans.MsgID)
	if a1.ChatID != "group:Test Group" || string(a1.AskerID) != store.HashUser(Platform, "~Bob") {
		t.Errorf("answer recorded for chat %q asker %q", a1.ChatID, a1.AskerID)
	}

	// Bob quote-replies [强]: the quote is matched to the answer, a vote.
	quote := []rune(strings.ReplaceAll(ans.Content, "\u2005", " "))
	f.push(f.groupText("@bob01", "「小助手："+string(quote[:24])+"...」"+separator+"[强]"))
	waitVote(t, store, a1.ID, "~Bob", 1)

	// A private chat: an answer without @mention; an unquoted 👍 votes
	// on the latest answer to that person in that chat.
	n := f.sentCount()
	f.push(f.text("@carol01", "hello there"))
	dm := f.waitSent(t, n, 1)[0]
	if dm.To != "@carol01" || strings.HasPrefix(dm.Content, "@") || !strings.Contains(dm.Content, "You said: hello there") {
		t.Fatalf("private answer %+v", dm)
	}
	a2 := answerOf(t, store, dm.MsgID)
	f.push(fakeMsg{FromUserName: "@carol01", MsgType: 1, Content: `<span class="emoji emoji1f44d"></span>`})
	waitVote(t, store, a2.ID, "~Carol", 1)

	// A long answer comes in paragraph-sized parts, each mapped to the
	// answer as soon as it is sent.
	n = f.sentCount()
	para := strings.TrimSpace(strings.Repeat("lorem ipsum ", 25))
	f.push(f.text("@carol01", strings.Join([]string{para, para, para}, "\n\n")))
	parts := f.waitSent(t, n, 2)
	time.Sleep(2 * cfg.ChatInterval.Duration)
	parts = f.sentSince(n)
	if len(parts) != 2 {
		t.Fatalf("a %d-character answer came in %d parts, want 2 of at most %d", 3*len(para)+30, len(parts), cfg.PartChars)
	}
	var joined strings.Builder
	for _, p := range parts {
		if p.To != "@carol01" || utf8.RuneCountInString(p.Content) > cfg.PartChars {
			t.Errorf("part %+v", p)
		}
		if a := answerOf(t, store, p.MsgID); a.ID != answerOf(t, store, parts[0].MsgID).ID {
			t.Errorf("part %s maps to answer %s, want the first part's", p.MsgID, a.ID)
		}
		joined.WriteString(p.Content)
	}
	if !strings.Contains(strings.Join(strings.Fields(joined.String()), " "), strings.Join(strings.Fields(para+" "+para+" "+para), " ")) {
		t.Errorf("the parts do not hold the whole answer: %q", joined.String())
	}

	// A picture in the private chat gets the text-only notice; the
	// quote-reply "换一个" asks for another answer to the quoted one.
	n = f.sentCount()
	f.push(fakeMsg{FromUserName: "@carol01", MsgType: 3})
	if got := f.waitSent(t, n, 1)[0]; got.To != "@carol01" || got.Content != cfg.MediaReply {
		t.Fatalf("media notice %+v", got)
	}
	n = f.sentCount()
	f.push(f.groupText("@bob01", "「小助手："+string(quote[:24])+"」"+separator+"换一个"))
	regen := f.waitSent(t, n, 1)[0]
	if regen.To != "@@group01" || !strings.HasPrefix(regen.Content, "@Bobby\u2005[demo") || regen.Content == ans.Content {
		t.Fatalf("regenerated answer %+v, want a different @Bobby answer", regen)
	}
	if a3 := answerOf(t, store, regen.MsgID); a3.GroupID != a1.GroupID || a3.ID == a1.ID {
		t.Errorf("regenerated answer in prompt group %s, want a sibling in %s", a3.GroupID, a1.GroupID)
	}

	// A burst of mentions from five people: all answered, every send
	// spaced by the throttle.
	n = f.sentCount()
	begun := time.Now()
	var burst []fakeMsg
	for _, who := range []string{"@alice01", "@dave01", "@erin01", "@frank01", "@bob01"} {
		burst = append(burst, f.groupText(who, "@LoopBot burst question from "+who))
	}
	f.push(burst...)
	got := f.waitSent(t, n, len(burst))
	elapsed := time.Since(begun)
	for _, who := range []string{"@alice01", "@dave01", "@erin01", "@frank01", "@bob01"} {
		found := false
		for _, s := range got {
			found = found || strings.Contains(s.Content, "burst question from "+who)
		}
		if !found {
			t.Errorf("no answer to %s in %+v", who, got)
		}
	}
	all := f.sentSince(0)
	checkSpacing(t, all, cfg)
	if limit := time.Duration(len(burst))*(cfg.ChatInterval.Duration+cfg.Jitter.Duration) + 2*time.Second; elapsed > limit {
		t.Errorf("the burst took %v, more than %v", elapsed, limit)
	}

	// Restart: the next start logs in from the storage file, no QR code.
	r.stop(t)
	checkPrivate(t, cfg.StorageFile)
	inits := f.count("webwxinit")
	r = startAdapter(t, f, cfg, core)
	waitLoggedIn(t, r)
	if f.count("jslogin") != 1 || f.count("webwxinit") != inits+1 {
		t.Errorf("restart: %d uuid requests, %d inits; want 1 and %d (a hot login)", f.count("jslogin"), f.count("webwxinit"), inits+1)
	}
	if strings.Contains(r.qr.String(), "Scan") {
		t.Error("a QR code was shown on restart")
	}
	askDM(t, f, "@alice01", "after the restart")
	// The adapter's memory of sent messages is gone, so this quote-reply
	// is matched by the core among recent answers in the chat.
	f.push(f.groupText("@alice01", "「小助手："+string(quote[:30])+"」"+separator+"[弱]"))
	waitVote(t, store, a1.ID, "alice-remark", -1)

	// The sync check says the session is gone but the saved session still
	// works: a hot login, no QR code.
	f.blip()
	waitFor(t, "a hot re-login", 10*time.Second, func() bool { return f.count("webwxinit") >= inits+2 })
	waitLoggedIn(t, r)
	askDM(t, f, "@alice01", "after the blip")

	// The session is really gone: the hot login is refused, then a new QR
	// code is shown and scanned.
	refused := f.count("webwxinit without a live session")
	f.invalidate()
	qrLogin(t, f, r, 2, 1)
	if got := f.count("webwxinit without a live session") - refused; got != 1 {
		t.Errorf("%d refused hot logins, want 1 before the QR login", got)
	}
	askDM(t, f, "@carol01", "after the new QR login")

	// The votes are in the bbolt file: stop everything, reopen it.
	r.stop(t)
	stopCore()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := feedback.Open(store.path, feedback.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	file := &testStore{Store: reopened, t: t, path: store.path}
	for _, v := range []struct {
		id    bot.AnswerID
		voter bot.UserID
		want  int
	}{{a1.ID, "~Bob", 1}, {a1.ID, "alice-remark", -1}, {a2.ID, "~Carol", 1}} {
		if got, ok := file.voteOf(v.id, v.voter); !ok || got != v.want {
			t.Errorf("in the file: vote by %s on %s = %d (found %v), want %+d", v.voter, v.id, got, ok, v.want)
		}
	}

	logs := r.logs.String()
	for _, want := range []string{"WeChat login lost", "the saved WeChat session was refused", "logged in to WeChat"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"sid-1", "@crypt_", "pass-1", "data-ticket", "@bob01", "@alice01", "@carol01"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	for _, endpoint := range []string{"jslogin", "login", "webwxnewloginpage", "webwxinit", "webwxstatusnotify", "webwxgetcontact", "webwxbatchgetcontact", "synccheck", "webwxsync", "webwxsendmsg"} {
		if f.count(endpoint) == 0 {
			t.Errorf("the client never called %s", endpoint)
		}
	}
	if rej := f.rejections(); len(rej) > 0 {
		t.Errorf("the fake server refused requests: %q", rej)
	}
}

// askDM sends a private message and waits for its answer.
func askDM(t *testing.T, f *fakeWeChat, from, text string) {
	t.Helper()
	n := f.sentCount()
	f.push(f.text(from, text))
	waitFor(t, "an answer to "+text, 10*time.Second, func() bool {
		for _, s := range f.sentSince(n) {
			if s.To == from && strings.Contains(s.Content, text) {
				return true
			}
		}
		return false
	})
}

// checkSpacing checks that sends to one chat are chat_interval apart and
// any two sends global_interval apart.
func checkSpacing(t *testing.T, sent []fakeSent, cfg Config) {
	t.Helper()
	// The server stamps a request when it arrives, before it answers; the
	// adapter starts the next send an interval after it read that answer.
	// So the stamps are at least an interval apart however slow loopback
	// is.
	last := map[string]time.Time{}
	for i, s := range sent {
		if i > 0 {
			if d := s.At.Sub(sent[i-1].At); d < cfg.GlobalInterval.Duration {
				t.Errorf("sends %d and %d are %v apart, want at least %v", i-1, i, d, cfg.GlobalInterval.Duration)
			}
		}
		if prev, ok := last[s.To]; ok {
			if d := s.At.Sub(prev); d < cfg.ChatInterval.Duration {
				t.Errorf("two sends to %s are %v apart, want at least %v", s.To, d, cfg.ChatInterval.Duration)
			}
		}
		last[s.To] = s.At
	}
}

// checkPrivate checks that a file exists with mode 0600.
func checkPrivate(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("storage file: %v", err)
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
	if size < len(bits) || img.Bounds().Dy() != size {
		t.Fatalf("QR image is %v, too small for %d modules", img.Bounds(), len(bits))
	}
	// The centre pixel of module i.
	centre := func(i int) int { return int((float64(i) + 0.5) * float64(size) / float64(len(bits))) }
	mismatch := 0
	for y, row := range bits {
		for x, black := range row {
			if isDark(img, centre(x), centre(y)) != black {
				mismatch++
			}
		}
	}
	if mismatch > 0 {
		t.Errorf("QR image differs from a code of %q in %d modules", want, mismatch)
	}
}

func isDark(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return (r+g+b)/3 < 0x8000
}

// waitVote waits until voter's vote on answer id has value want.
func waitVote(t *testing.T, store *testStore, id bot.AnswerID, voter bot.UserID, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("vote %+d by %s on %s", want, voter, id), 5*time.Second, func() bool {
		v, ok := store.voteOf(id, voter)
		return ok && v == want
	})
}

// TestChoices runs A/B mode through the core: the two labelled answers go
// out, and "B" in a private chat or a bare "a" in the group after an A/B
// answer records the choice in the feedback store.
func TestChoices(t *testing.T) {
	f := newFakeWeChat(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core, _ := startCore(t, store, 1)
	r := startAdapter(t, f, testConfig(dir), core)
	qrLogin(t, f, r, 1, 1)

	pair := func(from int, to string) (a, b bot.AnswerID) {
		t.Helper()
		sent := f.waitSent(t, from, 3)
		for _, s := range sent[:3] {
			if s.To != to {
				t.Fatalf("A/B message %+v, want it sent to %s", s, to)
			}
		}
		if !strings.Contains(sent[0].Content, "【A】[demo") || !strings.Contains(sent[1].Content, "【B】[demo") {
			t.Fatalf("A/B answers %q and %q", sent[0].Content, sent[1].Content)
		}
		return answerOf(t, store, sent[0].MsgID).ID, answerOf(t, store, sent[1].MsgID).ID
	}

	f.push(f.text("@alice01", "which is better"))
	a, b := pair(0, "@alice01")
	f.push(f.text("@alice01", "B"))
	waitFor(t, "Alice's choice", 5*time.Second, func() bool { return store.choiceOf(b, a, "alice-remark") })
	thanks := f.waitSent(t, 3, 1)[0]
	if thanks.To != "@alice01" || !strings.Contains(thanks.Content, "choice recorded") {
		t.Errorf("after the choice: %+v", thanks)
	}

	n := f.sentCount()
	f.push(f.groupText("@bob01", "@LoopBot compare these"))
	waitFor(t, "the group's A/B answers", 10*time.Second, func() bool {
		c := 0
		for _, s := range f.sentSince(n) {
			if strings.Contains(s.Content, "compare these") {
				c++
			}
		}
		return c == 2
	})
	var ga, gb bot.AnswerID
	for _, s := range f.sentSince(n) {
		if !strings.HasPrefix(s.Content, "@Bobby\u2005") {
			t.Errorf("group message without the @mention: %q", s.Content)
		}
		switch {
		case strings.Contains(s.Content, "【A】") && strings.Contains(s.Content, "compare these"):
			ga = answerOf(t, store, s.MsgID).ID
		case strings.Contains(s.Content, "【B】") && strings.Contains(s.Content, "compare these"):
			gb = answerOf(t, store, s.MsgID).ID
		}
	}
	f.push(f.groupText("@bob01", "a"))
	waitFor(t, "Bob's choice", 5*time.Second, func() bool { return store.choiceOf(ga, gb, "~Bob") })
	if store.choiceOf(gb, ga, "~Bob") {
		t.Error("Bob's choice recorded both ways")
	}
}
