package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/model/chat"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testToken = "s3cret-token-for-tests"

// testStore is a real bbolt store with answers on two platforms: a prompt
// group of two siblings on Discord with opposite votes, and a WeChat
// answer with a vote a day later.
func testStore(t testing.TB) *feedback.Store {
	t.Helper()
	now := t0
	s, err := feedback.Open(filepath.Join(t.TempDir(), "feedback.db"), feedback.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	model := bot.ModelInfo{Backend: "local", Name: "qwen2.5-0.5b-instruct", Quantization: "Q8_0", SHA256: "3f2a9c0d11e4aaaa"}
	prompt := []bot.Turn{{Role: bot.RoleSystem, Content: "You are chatloop."}, {Role: bot.RoleUser, Content: "What is the capital of France?"}}
	for _, a := range []bot.Answer{
		{ID: "01A", GroupID: "g1", Platform: "discord", ChatID: "chan-1", AskerID: "u1", Created: t0, Prompt: prompt, Text: "Paris <b>is</b> the capital.", Model: model, Finished: true, Sent: true},
		{ID: "01B", GroupID: "g1", Platform: "discord", ChatID: "chan-1", AskerID: "u1", Created: t0.Add(time.Minute), Prompt: prompt, Text: "Lyon, I think.", Model: model, Finished: true, Sent: true},
		{ID: "01C", Platform: "wechat", ChatID: "群1", AskerID: "u2", Created: t0.Add(time.Hour), Prompt: []bot.Turn{{Role: bot.RoleUser, Content: "你好"}}, Text: "你好！有什么可以帮你？", Model: model, Finished: true, Sent: true},
	} {
		if err := s.RecordAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []struct {
		id, platform, voter string
		value               int
	}{{"01A", "discord", "v1", 1}, {"01A", "discord", "v2", 1}, {"01B", "discord", "v1", -1}} {
		if err := s.Vote(ctx, bot.AnswerID(v.id), v.platform, bot.UserID(v.voter), v.value); err != nil {
			t.Fatal(err)
		}
	}
	now = t0.Add(24 * time.Hour)
	if err := s.Vote(ctx, "01C", "wechat", "v3", 1); err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestServer(t testing.TB, opts Options) *httptest.Server {
	t.Helper()
	if opts.Store == nil {
		opts.Store = testStore(t)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

// client is a browser-like client: it keeps cookies and does not follow
// redirects, so that tests see them.
func client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t testing.TB, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func login(t testing.TB, c *http.Client, base, token string) *http.Response {
	t.Helper()
	resp, err := c.PostForm(base+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestLoginSessionAndLogout(t *testing.T) {
	ts := newTestServer(t, Options{Token: testToken})
	c := client(t)

	code, _, h := get(t, c, ts.URL+"/")
	if code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("GET / before login: %d to %q, want 303 to /login", code, h.Get("Location"))
	}
	if code, _, _ := get(t, c, ts.URL+"/api/stats"); code != http.StatusUnauthorized {
		t.Errorf("GET /api/stats before login: %d, want 401", code)
	}
	if code, _, _ := get(t, c, ts.URL+"/metrics"); code != http.StatusUnauthorized {
		t.Errorf("GET /metrics before login: %d, want 401", code)
	}
	if code, body, _ := get(t, c, ts.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz: %d %q, want 200 ok", code, body)
	}

	if resp := login(t, c, ts.URL, "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", resp.StatusCode)
	}
	if resp := login(t, c, ts.URL, testToken+"x"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("longer token: %d, want 401", resp.StatusCode)
	}
	resp := login(t, c, ts.URL, testToken)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right token: %d, want 303", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value == testToken {
		t.Fatalf("session cookie: %+v, want HttpOnly, SameSite=Strict, not the token", cookie)
	}
	code, body, h := get(t, c, ts.URL+"/")
	if code != http.StatusOK || !strings.Contains(body, `id="approval"`) {
		t.Fatalf("GET / after login: %d\n%s", code, body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}

	// Log out: the session ends on the server, not only in the browser.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/logout", nil)
	req.AddCookie(cookie)
	out, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	stale := &http.Client{CheckRedirect: c.CheckRedirect}
	req, _ = http.NewRequest(http.MethodGet, ts.URL+"/", nil)
	req.AddCookie(cookie)
	if r, err := stale.Do(req); err != nil || r.StatusCode != http.StatusSeeOther {
		t.Errorf("old cookie after logout: %v %v, want 303 to /login", r.StatusCode, err)
	} else {
		r.Body.Close()
	}
}

func TestBearerToken(t *testing.T) {
	ts := newTestServer(t, Options{Token: testToken, Metrics: http.NotFoundHandler()})
	for _, c := range []struct {
		header string
		want   int
	}{{"Bearer " + testToken, 200}, {"Bearer nope", 401}, {"Basic " + testToken, 401}, {"", 401}} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/stats", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Authorization %q: %d, want %d", c.header, resp.StatusCode, c.want)
		}
	}
}

// TestCrossSiteLoginRefused: a page elsewhere cannot post to the
// dashboard (login CSRF), and the answer does not open a session.
func TestCrossSiteLoginRefused(t *testing.T) {
	ts := newTestServer(t, Options{Token: testToken})
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("%v: %d with %d cookies, want 403 and none", h, resp.StatusCode, len(resp.Cookies()))
		}
	}
}

func TestLoginFloodThrottled(t *testing.T) {
	ts := newTestServer(t, Options{Token: testToken})
	c := client(t)
	limited := false
	for range 30 {
		if resp := login(t, c, ts.URL, "guess"); resp.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("30 wrong tokens in a row were never throttled")
	}
}

func TestOversizedLoginForm(t *testing.T) {
	ts := newTestServer(t, Options{Token: testToken})
	body := "token=" + strings.Repeat("a", maxFormBytes+10)
	resp, err := http.Post(ts.URL+"/login", "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("oversized form: %d, want 400", resp.StatusCode)
	}
}

// TestNoTokenAnswersLoopbackNamesOnly: without a token, a request for
// another host name (DNS rebinding) is refused.
func TestNoTokenAnswersLoopbackNamesOnly(t *testing.T) {
	ts := newTestServer(t, Options{})
	for host, want := range map[string]int{"127.0.0.1:8377": 200, "localhost:8377": 200, "[::1]:8377": 200, "evil.example:8377": 403, "10.0.0.2": 403} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8377", "", true},
		{"localhost:8377", "", true},
		{"[::1]:8377", "", true},
		{"0.0.0.0:8377", "", false},
		{":8377", "", false},
		{"192.168.1.5:8377", "", false},
		{"0.0.0.0:8377", "t", true},
	} {
		if err := CheckListen(c.addr, c.token); (err == nil) != c.ok {
			t.Errorf("CheckListen(%q, %q) = %v, want ok=%v", c.addr, c.token, err, c.ok)
		}
	}
}

func TestOverviewPage(t *testing.T) {
	ts := newTestServer(t, Options{Runs: func() []Run {
		return []Run{{Kind: "reward", Path: "reward.json", When: t0, Summary: "held-out accuracy 71.0%"}}
	}})
	code, body, _ := get(t, http.DefaultClient, ts.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	// Versions: one, 3 up and 1 down: 75.0 %, Wilson [30.1 %, 95.4 %].
	lo, hi := feedback.Wilson(3, 4)
	for _, want := range []string{
		`<span class="num" id="n-answers">3</span>`,
		`<span class="num" id="n-votes">4</span>`,
		`<span class="num" id="n-pairs">1</span>`,
		"qwen2.5-0.5b-instruct Q8_0 @3f2a9c0d11e4",
		"75.0%", funcs["pct"].(func(float64) string)(lo), funcs["pct"].(func(float64) string)(hi),
		`id="votes-chart"`, "2026-03-01 discord: 3 votes", "2026-03-02 wechat: 1 votes",
		"held-out accuracy 71.0%",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
}

func TestAnswersPages(t *testing.T) {
	ts := newTestServer(t, Options{})
	for _, c := range []struct {
		query      string
		want, not  []string
		wantStatus int
	}{
		{"", []string{"/answers/01A", "/answers/01B", "/answers/01C", "Paris &lt;b&gt;is&lt;/b&gt;"}, []string{"<b>is</b>"}, 200},
		{"platform=wechat", []string{"/answers/01C"}, []string{"/answers/01A"}, 200},
		{"vote=down", []string{"/answers/01B"}, []string{"/answers/01A", "/answers/01C"}, 200},
		{"q=paris", []string{"/answers/01A"}, []string{"/answers/01B"}, 200},
		{"since=2026-03-01&until=2026-03-01", []string{"/answers/01A", "/answers/01C"}, nil, 200},
		{"since=2026-03-02", nil, []string{"/answers/01"}, 200},
		{"vote=sideways", nil, nil, 400},
		{"since=yesterday", nil, nil, 400},
	} {
		code, body, _ := get(t, http.DefaultClient, ts.URL+"/answers?"+c.query)
		if code != c.wantStatus {
			t.Errorf("?%s: %d, want %d", c.query, code, c.wantStatus)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("?%s lacks %q", c.query, w)
			}
		}
		for _, w := range c.not {
			if strings.Contains(body, w) {
				t.Errorf("?%s has %q", c.query, w)
			}
		}
	}
	code, body, _ := get(t, http.DefaultClient, ts.URL+"/answers/01B")
	if code != 200 {
		t.Fatalf("GET /answers/01B: %d", code)
	}
	for _, want := range []string{"You are chatloop.", "What is the capital of France?", `id="a-01B"`, `id="a-01A"`, "👍 0 👎 1", "👍 2 👎 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("answer page lacks %q", want)
		}
	}
	if code, _, _ := get(t, http.DefaultClient, ts.URL+"/answers/nope"); code != 404 {
		t.Errorf("unknown answer: %d, want 404", code)
	}
}

func TestExportDownload(t *testing.T) {
	store := testStore(t)
	ts := newTestServer(t, Options{Store: store})
	for _, format := range feedback.Formats {
		resp, err := http.Get(ts.URL + "/export/download?format=" + format + "&platform=discord")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var want bytes.Buffer
		if _, err := store.Export(context.Background(), &want, feedback.ExportOptions{Format: format, Platform: "discord", MinScore: 1}); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: %d\n%s\nwant\n%s", format, resp.StatusCode, got, want.Bytes())
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, format) {
			t.Errorf("%s: Content-Disposition %q", format, cd)
		}
		if sc := resp.Header.Get("X-Chatloop-Scrubbed"); sc != "nothing to scrub" {
			t.Errorf("%s: X-Chatloop-Scrubbed %q", format, sc)
		}
	}
	// A person's e-mail in a new answer is scrubbed unless no-scrub=1.
	a := bot.Answer{ID: "01Z", Platform: "discord", ChatID: "c", Prompt: []bot.Turn{{Role: bot.RoleUser, Content: "mail me: zed@example.com"}}, Text: "ok", Finished: true,
		Model: bot.ModelInfo{Backend: "local", Name: "m"}}
	if err := store.RecordAnswer(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if err := store.Vote(context.Background(), "01Z", "discord", "v9", 1); err != nil {
		t.Fatal(err)
	}
	_, body, h := get(t, http.DefaultClient, ts.URL+"/export/download?format=kto")
	if !strings.Contains(body, "mail me: <EMAIL_1>") || strings.Contains(body, "zed@") || h.Get("X-Chatloop-Scrubbed") != "scrubbed 1 email" {
		t.Errorf("scrubbed kto export (%s):\n%s", h.Get("X-Chatloop-Scrubbed"), body)
	}
	if _, body, _ := get(t, http.DefaultClient, ts.URL+"/export/download?format=kto&no-scrub=1"); !strings.Contains(body, "zed@example.com") {
		t.Errorf("no-scrub=1 export:\n%s", body)
	}
	for _, q := range []string{"format=csv", "format=kto&since=soon", "format=kto&min-votes=-1", "format=kto&min-votes=x", "format=preference&max-pairs-per-user=-2"} {
		if code, _, _ := get(t, http.DefaultClient, ts.URL+"/export/download?"+q); code != 400 {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}
}

func TestAPIStatsIsFeedbackStats(t *testing.T) {
	store := testStore(t)
	ts := newTestServer(t, Options{Store: store})
	_, body, h := get(t, http.DefaultClient, ts.URL+"/api/stats")
	if h.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", h.Get("Content-Type"))
	}
	var got feedback.Stats
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want, err := store.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Errorf("/api/stats:\n%s\nwant\n%s", gj, wj)
	}
}

func TestAdaptersPageShowsQR(t *testing.T) {
	dir := t.TempDir()
	qr := filepath.Join(dir, "wechat-login-qr.png")
	ad := NewAdapters(func() time.Time { return t0 })
	ad.Add("wechat", qr)
	ad.Add("discord", "")
	ad.Started("wechat")
	ad.Stopped("discord", io.ErrUnexpectedEOF)
	ts := newTestServer(t, Options{Adapters: ad.States})

	_, body, _ := get(t, http.DefaultClient, ts.URL+"/adapters")
	for _, want := range []string{"starting", "stopped", "unexpected EOF"} {
		if !strings.Contains(body, want) {
			t.Errorf("adapters page lacks %q", want)
		}
	}
	// A running adapter says whether it is connected; a drop shows with
	// its reason until it is up again.
	ad.Up("wechat")
	if _, body, _ = get(t, http.DefaultClient, ts.URL+"/adapters"); !strings.Contains(body, ">connected<") {
		t.Errorf("after Up the page shows no connected adapter:\n%s", body)
	}
	ad.Down("wechat", errors.New("sync check: proxy error"))
	if _, body, _ = get(t, http.DefaultClient, ts.URL+"/adapters"); !strings.Contains(body, "disconnected, retrying</span>: sync check: proxy error") || strings.Contains(body, ">connected<") {
		t.Errorf("after Down the page does not show the drop and its reason:\n%s", body)
	}
	ad.Up("wechat")
	if st := ad.States(); !st[1].Connected || st[1].Down != "" || st[1].LastError != "sync check: proxy error" {
		t.Errorf("after Up again: %+v, want connected with the drop as the last error", st[1])
	}
	if strings.Contains(body, "qr.png") {
		t.Error("QR shown with no QR file")
	}
	png := []byte("\x89PNG\r\n\x1a\nfake")
	if err := writeFile(qr, png); err != nil {
		t.Fatal(err)
	}
	_, body, _ = get(t, http.DefaultClient, ts.URL+"/adapters")
	if !strings.Contains(body, `src="/adapters/wechat/qr.png"`) {
		t.Error("QR not shown while the file exists")
	}
	code, got, h := get(t, http.DefaultClient, ts.URL+"/adapters/wechat/qr.png")
	if code != 200 || got != string(png) || h.Get("Content-Type") != "image/png" {
		t.Errorf("QR image: %d %q %q", code, got, h.Get("Content-Type"))
	}
	if code, _, _ := get(t, http.DefaultClient, ts.URL+"/adapters/discord/qr.png"); code != 404 {
		t.Errorf("discord QR: %d, want 404", code)
	}
}

// TestAnswerPageShowsToolSteps: an answer that called tools shows each
// call (tool and arguments) and each result, shortened, before its text.
func TestAnswerPageShowsToolSteps(t *testing.T) {
	store := testStore(t)
	a := bot.Answer{ID: "01T", Platform: "discord", ChatID: "c", Prompt: []bot.Turn{{Role: bot.RoleUser, Content: "news?"}},
		Tools: []chat.Tool{{Type: "function", Function: chat.ToolFunction{Name: "web_search"}}},
		Steps: []bot.Turn{
			{Role: bot.RoleAssistant, ToolCalls: []chat.ToolCall{{ID: "c1", Type: "function", Function: chat.FunctionCall{Name: "web_search", Arguments: `{"query":"<today> news"}`}}}},
			{Role: chat.RoleTool, ToolCallID: "c1", Name: "web_search", Content: "[1] Go 1.24 released " + strings.Repeat("x", 1000)},
		},
		Text: "Go 1.24 is out [1].", Finished: true, Model: bot.ModelInfo{Backend: "local", Name: "m"}}
	if err := store.RecordAnswer(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, Options{Store: store})
	code, body, _ := get(t, http.DefaultClient, ts.URL+"/answers/01T")
	if code != 200 {
		t.Fatalf("GET /answers/01T: %d", code)
	}
	for _, want := range []string{`<span class="role">call</span> <code>web_search {&#34;query&#34;:&#34;&lt;today&gt; news&#34;}</code>`, "tool · web_search", "[1] Go 1.24 released", "Go 1.24 is out [1]."} {
		if !strings.Contains(body, want) {
			t.Errorf("answer page lacks %q", want)
		}
	}
	if strings.Contains(body, strings.Repeat("x", 500)) || strings.Contains(body, "<today>") {
		t.Error("the tool result is not shortened or not escaped")
	}
}
