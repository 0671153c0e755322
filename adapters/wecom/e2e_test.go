package wecom

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
	"github.com/chatloop/chatloop/feedback"
)

// syncBuffer collects log output from several goroutines.
type syncBuffer = adaptertest.SyncBuffer

// openStore opens the real bbolt feedback store in a temporary directory.
func openStore(t *testing.T) *feedback.Store { return adaptertest.OpenStore(t) }

// rawRow reads answer id's row of the store's raw export, where voters
// appear only as keyed hashes.
func rawRow(t *testing.T, st *feedback.Store, id bot.AnswerID) (feedback.RawRow, bool) {
	return adaptertest.Row(t, st, id)
}

// voteOf reads voter's vote on answer id back from the bbolt file.
func voteOf(t *testing.T, st *feedback.Store, id bot.AnswerID, voter string) (int, bool) {
	return adaptertest.VoteOf(t, st, Platform, id, bot.UserID(voter))
}

func waitVote(t *testing.T, st *feedback.Store, id bot.AnswerID, voter string, want int) {
	t.Helper()
	waitFor(t, "a vote of "+voter, func() bool {
		v, ok := voteOf(t, st, id, voter)
		return ok && v == want
	})
}

// answerOf finds the finished answer a sent message shows.
func answerOf(t *testing.T, st *feedback.Store, msgID string) bot.Answer {
	t.Helper()
	ctx := context.Background()
	var a bot.Answer
	waitFor(t, "the answer of message "+msgID, func() bool {
		id, err := st.AnswerByMessage(ctx, Platform, bot.MessageID(msgID))
		if err != nil {
			return false
		}
		a, err = st.Answer(ctx, id)
		return err == nil && a.Finished
	})
	return a
}

// startCore runs the real conversation core with the demo generator.
func startCore(t *testing.T, st bot.FeedbackStore, tweak func(*bot.Config)) *bot.Core {
	t.Helper()
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0
	cfg.Workers = 2
	if tweak != nil {
		tweak(&cfg)
	}
	core, err := bot.NewCore(bot.Options{Config: cfg, Generator: demo.New(), Store: st, MaxTokens: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = core.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return core
}

// testEnv sets the secrets the way a user would: the secret in the
// environment, the token and the EncodingAESKey in files.
func testConfig(t *testing.T, f *fakeWeCom) Config {
	t.Setenv(SecretEnv, fakeSecret)
	t.Setenv(TokenEnv, "")
	t.Setenv(AESKeyEnv, "")
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.CorpID = fakeCorpID
	cfg.AgentID = fakeAgentID
	cfg.APIURL = f.srv.URL
	cfg.TokenFile = filepath.Join(dir, "token")
	cfg.AESKeyFile = filepath.Join(dir, "aes_key")
	if err := os.WriteFile(cfg.TokenFile, []byte(docToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.AESKeyFile, []byte(docAESKey), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startAdapter runs the adapter on a loopback listener and returns its
// callback URL and log.
func startAdapter(t *testing.T, cfg Config, h bot.Handler) (string, *syncBuffer) {
	t.Helper()
	ln, base := listen(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, h, log, WithListener(ln))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return base + cfg.path(), logs
}

// TestEndToEnd runs the adapter's real HTTP listener with the real core,
// the demo generator and the real bbolt feedback store, against the fake
// WeCom API, with callbacks signed and encrypted as WeCom sends them.
func TestEndToEnd(t *testing.T) {
	f := newFakeWeCom(t)
	st := openStore(t)
	core := startCore(t, st, nil)
	cfg := testConfig(t, f)
	target, logs := startAdapter(t, cfg, core)

	// URL verification: the decrypted echostr comes back.
	if status, body := f.verifyURL(t, target, "8467193840217735"); status != http.StatusOK || body != "8467193840217735" {
		t.Fatalf("URL verification: %d %q", status, body)
	}

	// A text message is acknowledged at once with an empty 200 and
	// answered through message/send, followed by the vote card.
	status, body := f.post(t, target, f.seal(textXML("zhangsan", "what is two plus two?", 1001), time.Now()))
	if status != http.StatusOK || body != "" {
		t.Fatalf("text callback: %d %q, want an empty 200", status, body)
	}
	got := f.waitSent(t, 0, 2)
	ans, card := got[0], got[1]
	if ans.ToUser != "zhangsan" || ans.MsgType != "text" || !strings.Contains(ans.Text.Content, "You said: what is two plus two?") {
		t.Fatalf("answer %+v", ans)
	}
	if card.ToUser != "zhangsan" || card.MsgType != "template_card" || len(card.Card.ButtonList) != 3 {
		t.Fatalf("vote card %+v", card)
	}
	a1 := answerOf(t, st, ans.MsgID)
	if cardAns, err := st.AnswerByMessage(context.Background(), Platform, bot.MessageID(card.MsgID)); err != nil || cardAns != a1.ID {
		t.Errorf("the card maps to %q (%v), want %s", cardAns, err, a1.ID)
	}
	if strings.Contains(string(a1.ChatID), "zhangsan") {
		t.Errorf("chat id %q holds the raw user id", a1.ChatID)
	}
	keys := map[string]string{}
	for _, b := range card.Card.ButtonList {
		keys[b.Text] = b.Key
	}

	// 👍 on the card: a vote in the bbolt file, and the card is updated
	// with the response code of the event to show the choice.
	ev, code := f.buttonXML("zhangsan", keys["👍"], card.Card.TaskID)
	if status, _ := f.post(t, target, f.seal(ev, time.Now())); status != http.StatusOK {
		t.Fatalf("button callback: %d", status)
	}
	waitVote(t, st, a1.ID, "zhangsan", 1)
	up := f.waitUpdate(t, code)
	if len(up.UserIDs) != 1 || up.UserIDs[0] != "zhangsan" || up.Card.TaskID != card.Card.TaskID || !strings.Contains(up.Card.SubTitleText, "👍") || up.Card.ButtonList[0].Style != styleChosen || up.Card.ButtonList[1].Style != stylePlain {
		t.Errorf("card update %+v", up)
	}

	// The vote can be changed: 👎 replaces it (one per user per answer);
	// another member's 👍 is a second vote.
	ev, code = f.buttonXML("zhangsan", keys["👎"], card.Card.TaskID)
	f.post(t, target, f.seal(ev, time.Now()))
	waitVote(t, st, a1.ID, "zhangsan", -1)
	if up := f.waitUpdate(t, code); !strings.Contains(up.Card.SubTitleText, "👎") {
		t.Errorf("card after 👎 says %q", up.Card.SubTitleText)
	}
	ev, _ = f.buttonXML("lisi", keys["👍"], card.Card.TaskID)
	f.post(t, target, f.seal(ev, time.Now()))
	waitVote(t, st, a1.ID, "lisi", 1)
	if v, _ := voteOf(t, st, a1.ID, "zhangsan"); v != -1 {
		t.Errorf("zhangsan's vote became %d", v)
	}

	// A text 👍 votes on the member's latest answer.
	n := f.sentCount()
	f.post(t, target, f.seal(textXML("zhangsan", "👍🏻", 1002), time.Now()))
	waitVote(t, st, a1.ID, "zhangsan", 1)
	// "/bad" is the core's command; its notice comes back as text.
	f.post(t, target, f.seal(textXML("zhangsan", "/bad", 1003), time.Now()))
	waitVote(t, st, a1.ID, "zhangsan", -1)
	if notice := f.waitSent(t, n, 1)[0]; notice.MsgType != "text" || !strings.Contains(notice.Text.Content, "👎") {
		t.Errorf("vote notice %+v", notice)
	}

	// 🔄 asks for an alternative: a new answer in the same prompt group.
	n = f.sentCount()
	ev, code = f.buttonXML("zhangsan", keys["🔄 换一个"], card.Card.TaskID)
	f.post(t, target, f.seal(ev, time.Now()))
	regen := f.waitSent(t, n, 2)
	if regen[0].MsgType != "text" || regen[0].Text.Content == ans.Text.Content || regen[1].MsgType != "template_card" {
		t.Fatalf("regenerated answer %+v", regen)
	}
	if a2 := answerOf(t, st, regen[0].MsgID); a2.GroupID != a1.GroupID || a2.ID == a1.ID {
		t.Errorf("alternative in prompt group %s, want a sibling in %s", a2.GroupID, a1.GroupID)
	}
	f.waitUpdate(t, code)

	// Refusals: a bad signature, a tampered ciphertext (signature broken,
	// and signature made valid by someone holding the token), a replay, a
	// stale timestamp, garbage. None reaches the core or sends anything.
	n = f.sentCount()
	good := f.seal(textXML("zhangsan", "answered exactly once", 1004), time.Now())
	bad := good
	bad.sig = strings.Repeat("0", 40)
	if status, _ := f.post(t, target, bad); status != http.StatusForbidden {
		t.Errorf("bad signature: %d, want 403", status)
	}
	tampered := good
	tampered.encrypt = flipBase64(t, good.encrypt)
	if status, _ := f.post(t, target, tampered); status != http.StatusForbidden {
		t.Errorf("tampered ciphertext: %d, want 403", status)
	}
	tampered.sig = signature(docToken, tampered.ts, tampered.nonce, tampered.encrypt)
	if status, _ := f.post(t, target, tampered); status != http.StatusBadRequest {
		t.Errorf("tampered ciphertext, re-signed: %d, want 400", status)
	}
	stale := f.seal(textXML("zhangsan", "should never be answered", 1005), time.Now().Add(-10*time.Minute))
	if status, _ := f.post(t, target, stale); status != http.StatusForbidden {
		t.Errorf("stale timestamp: %d, want 403", status)
	}
	other := &msgCrypt{token: docToken, key: f.crypt.key, receiver: "ww_other_corp"}
	if status, _ := f.post(t, target, sealWith(t, other, textXML("zhangsan", "should never be answered", 1006), time.Now())); status != http.StatusBadRequest {
		t.Errorf("message for another corp: %d, want 400", status)
	}
	resp, err := http.Post(target+"?"+good.query(), "text/xml", strings.NewReader("<xml><Encrypt>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("broken XML: %d, want 400", resp.StatusCode)
	}
	// The good one passes once, and its replay is refused.
	n2 := f.sentCount()
	f.post(t, target, good)
	f.waitSent(t, n2, 2)
	if status, _ := f.post(t, target, good); status != http.StatusConflict {
		t.Errorf("replay: %d, want 409", status)
	}
	// WeCom's own retry of a message (same MsgId, newly signed) is
	// acknowledged but answered once.
	if status, _ := f.post(t, target, f.seal(textXML("zhangsan", "answered exactly once", 1004), time.Now())); status != http.StatusOK {
		t.Errorf("WeCom's retry: %d, want 200", status)
	}
	time.Sleep(50 * time.Millisecond)
	if got := f.sentFrom(n); len(got) != 2 {
		t.Errorf("refused callbacks led to sends: %+v", got)
	}
	for _, want := range []string{"bad msg_signature", "undecryptable", "stale", "replayed", "another corp"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line about %q", want)
		}
	}

	// An expired access token is refreshed and the send retried.
	f.mu.Lock()
	tokensBefore := f.tokens
	f.mu.Unlock()
	f.expireToken()
	n = f.sentCount()
	f.post(t, target, f.seal(textXML("wangwu", "after the token expired", 1007), time.Now()))
	if got := f.waitSent(t, n, 2)[0]; got.ToUser != "wangwu" || !strings.Contains(got.Text.Content, "after the token expired") {
		t.Errorf("answer after the token expired %+v", got)
	}
	f.mu.Lock()
	if f.tokens != tokensBefore+1 || f.expired != 1 {
		t.Errorf("gettoken calls %d → %d, expired answers %d; want one refresh after one 42001", tokensBefore, f.tokens, f.expired)
	}
	f.mu.Unlock()

	// A long answer is split at WeCom's 2048-byte limit, nothing lost.
	n = f.sentCount()
	long := strings.TrimSpace(strings.Repeat("长问题的一部分 words ", 150))
	f.post(t, target, f.seal(textXML("wangwu", long, 1008), time.Now()))
	var parts []sentMsg
	waitFor(t, "the long answer and its card", func() bool {
		parts = f.sentFrom(n)
		return len(parts) > 0 && parts[len(parts)-1].MsgType == "template_card"
	})
	parts = parts[:len(parts)-1]
	if len(parts) < 2 {
		t.Fatalf("a %d-byte question's answer came in %d message(s)", len(long), len(parts))
	}
	var joined strings.Builder
	for _, p := range parts {
		joined.WriteString(p.Text.Content)
	}
	a3 := answerOf(t, st, parts[0].MsgID)
	if strip(joined.String()) != strip(a3.Text) || len(a3.MessageIDs) < len(parts) {
		t.Errorf("the parts (%d) do not add up to the answer of %d bytes", len(parts), len(a3.Text))
	}

	// Pictures get a notice; secrets and raw user ids never reach the log.
	n = f.sentCount()
	f.post(t, target, f.seal(strings.Replace(textXML("zhangsan", "", 1009), "[text]", "[image]", 1), time.Now()))
	if got := f.waitSent(t, n, 1)[0]; got.Text == nil || got.Text.Content != mediaNotice {
		t.Errorf("media notice %+v", got)
	}
	for _, secret := range []string{fakeSecret, docToken, docAESKey, "zhangsan", "wangwu", "token-1"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}

// strip removes whitespace, which a split may move.
func strip(s string) string { return strings.Join(strings.Fields(s), "") }

// flipBase64 changes one bit in the middle of a base64 ciphertext.
func flipBase64(t *testing.T, s string) string {
	t.Helper()
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
