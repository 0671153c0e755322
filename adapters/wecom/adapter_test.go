package wecom

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/internal/sendq"
)

// TestABChoice: in A/B mode each alternative gets a card with its own
// "choose" button, and a press records the choice in the bbolt file.
func TestABChoice(t *testing.T) {
	f := newFakeWeCom(t)
	st := openStore(t)
	core := startCore(t, st, func(c *bot.Config) { c.ABProbability = 1 })
	target, _ := startAdapter(t, testConfig(t, f), core)

	f.post(t, target, f.seal(textXML("zhaoliu", "which is better?", 2001), time.Now()))
	var cards []sentMsg
	waitFor(t, "two cards", func() bool {
		cards = cards[:0]
		for _, m := range f.sentFrom(0) {
			if m.MsgType == "template_card" {
				cards = append(cards, m)
			}
		}
		return len(cards) == 2
	})
	byLabel := map[string]sentMsg{}
	for _, c := range cards {
		if len(c.Card.ButtonList) != 1 {
			t.Fatalf("A/B card %+v, want one choose button", c.Card)
		}
		byLabel[c.Card.MainTitle.Title] = c
	}
	b, ok := byLabel["回答 B"]
	if !ok || byLabel["回答 A"].Card == nil {
		t.Fatalf("cards %+v, want one for A and one for B", byLabel)
	}
	kind, idB, _ := parseKey(b.Card.ButtonList[0].Key)
	_, idA, _ := parseKey(byLabel["回答 A"].Card.ButtonList[0].Key)
	if kind != bot.ReactionChooseB || idA == idB {
		t.Fatalf("B's button %q", b.Card.ButtonList[0].Key)
	}
	for _, id := range []bot.AnswerID{idA, idB} {
		waitFor(t, "answer "+string(id)+" finished", func() bool { a, err := st.Answer(context.Background(), id); return err == nil && a.Finished })
	}
	ev, code := f.buttonXML("zhaoliu", b.Card.ButtonList[0].Key, b.Card.TaskID)
	f.post(t, target, f.seal(ev, time.Now()))
	waitFor(t, "the A/B choice in the store", func() bool {
		row, _ := rawRow(t, st, idB)
		for _, p := range row.Choices {
			if p.Winner == string(idB) && p.Loser == string(idA) && p.VoterHash == st.HashUser(Platform, "zhaoliu") {
				return true
			}
		}
		return false
	})
	if u := f.waitUpdate(t, code); u.Card.SubTitleText == "" || u.Card.ButtonList[0].Style != styleChosen {
		t.Errorf("B's card after the choice %+v", u.Card)
	}
}

// TestTokenRenewedBeforeExpiry: the access token is cached, and renewed
// shortly before WeCom's expires_in runs out, not after.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	f := newFakeWeCom(t)
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := &apiClient{base: f.srv.URL + "/", corpID: fakeCorpID, secret: fakeSecret, agentID: fakeAgentID, http: f.srv.Client(), now: clock}
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.sendText(ctx, "u", "hello"); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	advance(7200*time.Second - 6*time.Minute)
	if _, err := c.sendText(ctx, "u", "hello"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	if f.tokens != 1 {
		t.Errorf("%d gettoken calls within the token's life, want 1", f.tokens)
	}
	f.mu.Unlock()
	advance(2 * time.Minute) // within five minutes of the expiry
	if _, err := c.sendText(ctx, "u", "hello"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens != 2 || f.expired != 0 {
		t.Errorf("gettoken calls %d, expired answers %d; want a renewal before the expiry", f.tokens, f.expired)
	}
}

// TestAPIErrors: a wrong secret is an APIError naming the errcode but
// never the secret; only the token errcodes are retried.
func TestAPIErrors(t *testing.T) {
	f := newFakeWeCom(t)
	c := &apiClient{base: f.srv.URL + "/", corpID: fakeCorpID, secret: "wrong-secret", agentID: fakeAgentID, http: f.srv.Client(), now: time.Now}
	_, err := c.sendText(context.Background(), "u", "hello")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 40001 || !errors.Is(err, ErrAPI) || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("wrong secret: %v", err)
	}
	c = &apiClient{base: f.srv.URL + "/", corpID: fakeCorpID, secret: fakeSecret, agentID: 7, http: f.srv.Client(), now: time.Now}
	if _, err := c.sendText(context.Background(), "u", "hello"); !errors.As(err, &ae) || ae.Code != 40056 {
		t.Errorf("wrong agent id: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens != 1 {
		t.Errorf("%d gettoken calls, want 1 (no retry for other errcodes)", f.tokens)
	}
	// Unreachable server: the error does not carry the URL with the token.
	c = &apiClient{base: "http://127.0.0.1:1/", corpID: fakeCorpID, secret: fakeSecret, agentID: 7, http: http.DefaultClient, now: time.Now}
	if _, err := c.accessToken(context.Background()); err == nil || strings.Contains(err.Error(), fakeSecret) {
		t.Errorf("unreachable server: %v", err)
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the default (disabled) config: %v", err)
	}
	good := DefaultConfig()
	good.Enabled, good.CorpID, good.AgentID = true, fakeCorpID, fakeAgentID
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	if _, err := New(DefaultConfig(), nopHandler{}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("New without corp_id: %v, want ErrConfig", err)
	}
	for name, mod := range map[string]func(*Config){
		"no corp id":    func(c *Config) { c.CorpID = "" },
		"no agent id":   func(c *Config) { c.AgentID = 0 },
		"bad listen":    func(c *Config) { c.Listen = "8086" },
		"bad path":      func(c *Config) { c.Path = "wecom" },
		"bad api url":   func(c *Config) { c.APIURL = "ftp://x" },
		"negative skew": func(c *Config) { c.MaxClockSkew.Duration = -time.Second },
		"skew of days":  func(c *Config) { c.MaxClockSkew.Duration = 72 * time.Hour },
		"huge agent id": func(c *Config) { c.AgentID = 1 << 40 },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}

	t.Setenv(SecretEnv, "")
	t.Setenv(TokenEnv, "tok")
	t.Setenv(AESKeyEnv, docAESKey)
	if _, err := New(good, nopHandler{}, nil); !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), SecretEnv) {
		t.Errorf("no secret: %v", err)
	}
	dir := t.TempDir()
	good.SecretFile = filepath.Join(dir, "secret")
	if _, err := New(good, nopHandler{}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("missing secret file: %v", err)
	}
	if err := os.WriteFile(good.SecretFile, []byte(" s3cret \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(AESKeyEnv, "short")
	if _, err := New(good, nopHandler{}, nil); !errors.Is(err, ErrBadAESKey) || strings.Contains(err.Error(), "short") {
		t.Errorf("bad AES key: %v", err)
	}
	t.Setenv(AESKeyEnv, docAESKey)
	a, err := New(good, nopHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.api.secret != "s3cret" || a.crypt.token != "tok" {
		t.Errorf("secrets read as %q / %q", a.api.secret, a.crypt.token)
	}

	// Run fails when the address is taken.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	good.Listen = ln.Addr().String()
	a, _ = New(good, nopHandler{}, nil)
	if err := a.Run(context.Background()); err == nil {
		t.Error("Run on a taken address returned nil")
	}
}

// TestOtherPaths: only the configured path is served.
func TestOtherPaths(t *testing.T) {
	f := newFakeWeCom(t)
	cfg := testConfig(t, f)
	cfg.Path = "/hook/{x}"
	target, _ := startAdapter(t, cfg, nopHandler{})
	base := strings.TrimSuffix(target, cfg.Path)
	for path, want := range map[string]int{"/": 404, "/hook/y": 404, "/hook/{x}": 400} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestThumbs(t *testing.T) {
	for _, tc := range []struct {
		text string
		kind bot.ReactionKind
		ok   bool
	}{
		{"👍", bot.ReactionUp, true}, {" 👍🏽 ", bot.ReactionUp, true}, {"[强]", bot.ReactionUp, true},
		{"👎", bot.ReactionDown, true}, {"👎\uFE0F", bot.ReactionDown, true}, {"[弱]", bot.ReactionDown, true},
		{"👍 thanks", 0, false}, {"", 0, false}, {"👍👍", 0, false},
	} {
		if kind, ok := thumbs(tc.text); kind != tc.kind || ok != tc.ok {
			t.Errorf("thumbs(%q) = %v, %v; want %v, %v", tc.text, kind, ok, tc.kind, tc.ok)
		}
	}
}

func TestButtonKeys(t *testing.T) {
	id := bot.AnswerID("01KABCDEF")
	for _, label := range []string{"", "A", "B"} {
		for _, b := range voteCard(id, label, 0).ButtonList {
			if _, got, ok := parseKey(b.Key); !ok || got != id {
				t.Errorf("key %q reads back as %q, %v", b.Key, got, ok)
			}
			if len(b.Key) > 1024 {
				t.Errorf("key of %d bytes", len(b.Key))
			}
		}
	}
	for _, bad := range []string{"", "cl:up:", "up:x", "cl:zz:x"} {
		if _, _, ok := parseKey(bad); ok {
			t.Errorf("parseKey(%q) accepted", bad)
		}
	}
	if got := taskID("a b/c"); got != "cl-a_b_c" {
		t.Errorf("taskID = %q", got)
	}
	if got := taskID(bot.AnswerID(strings.Repeat("x", 300))); len(got) > 128 {
		t.Errorf("task id of %d bytes", len(got))
	}
}

func TestReplayGuard(t *testing.T) {
	g := newReplayGuard(10 * time.Minute)
	t0 := time.Unix(1_800_000_000, 0)
	if !g.first("a", t0) || g.first("a", t0.Add(time.Minute)) {
		t.Error("a repeat within the window was not caught")
	}
	if !g.first("b", t0) || !g.first("a", t0.Add(11*time.Minute)) {
		t.Error("a key was refused after the window")
	}
	if _, ok := g.seen["b"]; ok {
		t.Error("an expired key was kept")
	}
}

// nopHandler drops everything (fuzzing and config tests).
type nopHandler struct{}

func (nopHandler) HandleMessage(context.Context, bot.Message, bot.Replier)   {}
func (nopHandler) HandleReaction(context.Context, bot.Reaction, bot.Replier) {}
func (nopHandler) Withdraw(string, bot.ChatID, bot.MessageID)                {}

// FuzzCallback posts arbitrary decrypted callbacks, correctly signed and
// encrypted, and arbitrary raw bodies: a 2xx or 4xx, never a panic.
func FuzzCallback(f *testing.F) {
	f.Add([]byte(textXML("u", "hi", 1)), false)
	f.Add([]byte(`<xml><FromUserName>u</FromUserName><MsgType>event</MsgType><Event>template_card_event</Event><EventKey>cl:up:x</EventKey><ResponseCode>r</ResponseCode></xml>`), false)
	f.Add([]byte(`<xml><FromUserName>u</FromUserName><MsgType>image</MsgType></xml>`), false)
	f.Add([]byte(`<xml><Encrypt>AAAA</Encrypt></xml>`), true)
	f.Add([]byte(`<xml><Encrypt><![CDATA[`), true)
	key, _ := decodeAESKey(docAESKey)
	mc := &msgCrypt{token: docToken, key: key, receiver: fakeCorpID}
	a := &Adapter{
		cfg: Config{CorpID: fakeCorpID, AgentID: fakeAgentID}, h: nopHandler{}, log: slog.New(slog.DiscardHandler), crypt: mc, now: time.Now,
		replay: newReplayGuard(time.Minute), sends: sendq.New("test", nil, noticeSenders, noticeQueue, time.Second),
		// API calls (notices, card updates) fail fast.
		api: &apiClient{base: "http://127.0.0.1:1/", http: &http.Client{Timeout: time.Second}, now: time.Now, agentID: fakeAgentID},
	}
	h := a.callback(context.Background())
	f.Fuzz(func(t *testing.T, body []byte, raw bool) {
		var c callback
		if raw {
			c = callback{sig: "x", ts: "1", nonce: "n", encrypt: string(body)}
		} else {
			enc, err := mc.encrypt(body, nil)
			if err != nil {
				t.Fatal(err)
			}
			c = callback{ts: strconv.FormatInt(time.Now().Unix(), 10), nonce: randomNonce(), encrypt: enc}
			c.sig = signature(docToken, c.ts, c.nonce, enc)
			body = []byte("<xml><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
		}
		req := httptest.NewRequest(http.MethodPost, "/wecom/callback?"+c.query(), strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d", rec.Code)
		}
		if !raw && rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("a signed callback got %d", rec.Code)
		}
	})
	a.sends.Wait()
}
