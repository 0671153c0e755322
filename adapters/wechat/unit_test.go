package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/eatmoreapple/openwechat"

	"github.com/chatloop/chatloop/bot"
)

func TestThrottleSpacing(t *testing.T) {
	const perChat, global, jitter = 40 * time.Millisecond, 15 * time.Millisecond, 5 * time.Millisecond
	thr := newThrottle(perChat, global, jitter)
	type send struct {
		chat       bot.ChatID
		start, end time.Time
	}
	var (
		mu    sync.Mutex
		sends []send
		wg    sync.WaitGroup
	)
	for i := range 12 {
		chat := bot.ChatID([]string{"a", "b", "c", "a"}[i%4])
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := thr.acquire(context.Background(), chat)
			if err != nil {
				t.Error(err)
				return
			}
			s := send{chat: chat, start: time.Now()}
			time.Sleep(time.Duration(i%3) * time.Millisecond) // the request
			s.end = time.Now()
			mu.Lock()
			sends = append(sends, s)
			mu.Unlock()
			done()
		}()
	}
	wg.Wait()
	slices.SortFunc(sends, func(a, b send) int { return a.start.Compare(b.start) })
	last := map[bot.ChatID]time.Time{}
	for i, s := range sends {
		if i > 0 {
			if prev := sends[i-1]; s.start.Before(prev.end) {
				t.Fatalf("sends %d and %d overlap", i-1, i)
			} else if gap := s.start.Sub(prev.end); gap < global {
				t.Errorf("send %d started %v after send %d ended, want at least %v", i, gap, i-1, global)
			}
		}
		if p, ok := last[s.chat]; ok && s.start.Sub(p) < perChat {
			t.Errorf("a send to %s started %v after the previous one ended, want at least %v", s.chat, s.start.Sub(p), perChat)
		}
		last[s.chat] = s.end
	}
}

func TestThrottleCancelAndPause(t *testing.T) {
	thr := newThrottle(time.Hour, 0, 0)
	done, err := thr.acquire(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	done()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := thr.acquire(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second send within the hour: %v, want the context's deadline", err)
	}
	// The cancelled wait gave the slot back: another chat can send.
	if done, err := thr.acquire(context.Background(), "y"); err != nil {
		t.Fatal(err)
	} else {
		done()
	}

	thr = newThrottle(0, 0, 0)
	thr.pause(80 * time.Millisecond)
	begun := time.Now()
	done, err = thr.acquire(context.Background(), "y")
	if err != nil {
		t.Fatal(err)
	}
	done()
	if d := time.Since(begun); d < 80*time.Millisecond {
		t.Errorf("send after a pause of 80ms went out after %v", d)
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := map[string]func(*Config){
		"storage_file":    func(c *Config) { c.StorageFile = " " },
		"chat_interval":   func(c *Config) { c.ChatInterval.Duration = -time.Second },
		"global_interval": func(c *Config) { c.GlobalInterval.Duration = -time.Second },
		"jitter":          func(c *Config) { c.Jitter.Duration = -time.Second },
		"part_chars":      func(c *Config) { c.PartChars = 10 },
		"max_parts":       func(c *Config) { c.MaxParts = 0 },
		"up_tokens":       func(c *Config) { c.UpTokens = []string{""} },
		"down_tokens":     func(c *Config) { c.DownTokens = []string{"好"} },
		"regen_tokens":    func(c *Config) { c.RegenTokens = []string{"差"} },
	}
	// Upper bounds: each value past its bound is refused too.
	for key, mutate := range map[string]func(*Config){
		"chat_interval":   func(c *Config) { c.ChatInterval.Duration = time.Hour },
		"global_interval": func(c *Config) { c.GlobalInterval.Duration = 24 * time.Hour },
		"jitter":          func(c *Config) { c.Jitter.Duration = time.Hour },
		"part_chars":      func(c *Config) { c.PartChars = 1 << 40 },
		"max_parts":       func(c *Config) { c.MaxParts = 1 << 40 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s past its bound: got %v, want an ErrConfig naming the key", key, err)
		}
	}
	for key, mutate := range tests {
		c := DefaultConfig()
		mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: got %v, want an ErrConfig naming the key", key, err)
		}
		if _, err := New(c, &recorder{}, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New accepted a bad config: %v", key, err)
		}
	}

	// Every key decodes from TOML.
	var c Config
	md, err := toml.Decode(`
enabled = true
storage_file = "/var/lib/chatloop/wx.json"
qr_file = "/tmp/qr.png"
private_chats = false
groups = true
chat_interval = "3s"
global_interval = "1500ms"
jitter = "1s"
part_chars = 800
max_parts = 3
up_tokens = ["赞"]
down_tokens = ["踩"]
regen_tokens = ["再来"]
media_reply = "text only"
`, &c)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Errorf("undecoded keys %v", und)
	}
	if !c.Enabled || c.PrivateChats || c.ChatInterval.Duration != 3*time.Second || c.GlobalInterval.Duration != 1500*time.Millisecond ||
		c.PartChars != 800 || c.MaxParts != 3 || c.qrFile() != "/tmp/qr.png" || c.RegenTokens[0] != "再来" || c.MediaReply != "text only" {
		t.Errorf("decoded %+v", c)
	}
	if got := DefaultConfig().qrFile(); got != "wechat-login-qr.png" {
		t.Errorf("default QR file %q", got)
	}
}

func TestLoginStorage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")

	// Nothing saved: openwechat is told the storage is invalid, and the
	// QR-login storage never reads.
	var buf [8]byte
	if _, err := newLoginStorage(path, true).Read(buf[:]); !errors.Is(err, openwechat.ErrInvalidStorage) {
		t.Fatalf("read of a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"x":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newLoginStorage(path, false).Read(buf[:]); !errors.Is(err, openwechat.ErrInvalidStorage) {
		t.Fatalf("read of the QR-login storage: %v", err)
	}

	// A saved session with cookies for two sites; openwechat's dump after
	// a hot login has lost one of them.
	saved := `{"Jar":{"https://wx.qq.com":[{"Name":"wxsid","Value":"s1"}],"https://file.wx.qq.com":[{"Name":"t","Value":"f1"}]},"UUID":"u1"}`
	if err := os.WriteFile(path, []byte(saved), 0o644); err != nil {
		t.Fatal(err)
	}
	st := newLoginStorage(path, true)
	var item openwechat.HotReloadStorageItem
	if err := json.NewDecoder(st).Decode(&item); err != nil || item.UUID != "u1" {
		t.Fatalf("decoding the saved session: %v %+v", err, item)
	}
	dump := `{"Jar":{"https://wx.qq.com":[{"Name":"wxsid","Value":"s2"}]},"UUID":"u2"}` + "\n"
	if n, err := st.Write([]byte(dump)); err != nil || n != len(dump) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("saved with mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	var got struct {
		Jar  map[string][]map[string]string
		UUID string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("saved file %s: %v", b, err)
	}
	if got.UUID != "u2" || got.Jar["https://wx.qq.com"][0]["Value"] != "s2" || got.Jar["https://file.wx.qq.com"][0]["Value"] != "f1" {
		t.Errorf("saved %s, want the new session with the old file.wx.qq.com cookies kept", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	// An unreadable dump is saved as it is.
	if out := mergeJar([]byte("not json"), map[string]json.RawMessage{"x": []byte(`[]`)}); string(out) != "not json" {
		t.Errorf("mergeJar changed unreadable input to %q", out)
	}
}

func TestParts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PartChars, cfg.MaxParts = 100, 3
	a, err := New(cfg, &recorder{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	para := strings.Repeat("字", 60)
	text := strings.Join([]string{para, para, para}, "\n\n")
	parts := a.parts(text)
	if len(parts) != 3 {
		t.Fatalf("%d parts, want one per paragraph: %q", len(parts), parts)
	}
	for _, p := range parts {
		if strings.TrimSpace(p) != para {
			t.Errorf("part %q is not a paragraph", p)
		}
	}
	long := strings.Repeat(para+"\n\n", 6)
	parts = a.parts(long)
	if len(parts) != 3 || !strings.HasSuffix(parts[2], cutNote) {
		t.Fatalf("an over-long answer gave %d parts, want 3 ending with the cut note", len(parts))
	}
	for _, p := range parts {
		if n := utf8.RuneCountInString(p); n > cfg.PartChars {
			t.Errorf("part of %d characters, limit %d", n, cfg.PartChars)
		}
	}
}

// TestRunLifecycle covers the login loop's edges: an expired QR code is
// replaced, a cancel during a QR login returns at once, and a storage
// directory that cannot exist is a fatal error.
func TestRunLifecycle(t *testing.T) {
	f := newFakeWeChat(t)
	r := startAdapter(t, f, testConfig(t.TempDir()), &recorder{})
	f.expireQR(f.waitQR(t, 1))
	f.waitQR(t, 2)
	waitFor(t, "the second QR code", 5*time.Second, func() bool { return strings.Count(r.qr.String(), "Scan this QR code") == 2 })
	if !strings.Contains(r.logs.String(), "the QR code expired") {
		t.Error("the expired QR code was not logged")
	}
	begun := time.Now()
	r.stop(t)
	if d := time.Since(begun); d > 2*time.Second {
		t.Errorf("Run took %v to return after cancel during a QR login", d)
	}

	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir())
	cfg.StorageFile = filepath.Join(blocker, "sub", "login.json")
	a, err := New(cfg, &recorder{}, nil, WithHTTPClient(f.client()))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "storage_file") {
		t.Errorf("Run with an impossible storage directory: %v, want an error naming storage_file", err)
	}
	if _, err := New(cfg, nil, nil); err == nil {
		t.Error("New accepted a nil handler")
	}
}

func TestErrorsHoldNoKeys(t *testing.T) {
	failing := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") })
	c := openwechat.NewClient(&http.Client{Transport: failing})
	c.AddHttpHook(redactHook{})
	req, err := http.NewRequest(http.MethodGet, "https://webpush.wx.qq.com/cgi-bin/mmwebwx-bin/synccheck?skey=@crypt_secret&sid=sid-secret#x", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(req)
	if err == nil {
		t.Fatal("no error from a failing transport")
	}
	if msg := err.Error(); strings.Contains(msg, "secret") || !strings.Contains(msg, "synccheck") {
		t.Errorf("error %q: want the path without the keys", msg)
	}
	if !openwechat.IsNetworkError(err) {
		t.Errorf("error %v lost openwechat's network error mark", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestGuardBody(t *testing.T) {
	tests := []struct {
		in   string
		init bool
		want string
	}{
		{`{"BaseResponse":{"Ret":1101}}`, false, `{"BaseResponse":{"Ret":1101},"SyncKey":{"Count":0,"List":[]}}`},
		{`{"BaseResponse":{"Ret":0},"SyncKey":null}`, false, `{"BaseResponse":{"Ret":0},"SyncKey":{"Count":0,"List":[]}}`},
		{`{"BaseResponse":{"Ret":0},"SyncKey":{"Count":1,"List":[{"Key":1,"Val":1}]}}`, false, `{"BaseResponse":{"Ret":0},"SyncKey":{"Count":1,"List":[{"Key":1,"Val":1}]}}`},
		{`{"BaseResponse":{"Ret":0},"SyncKey":{"Count":1,"List":[{"Key":1,"Val":1}]}}`, true, `{"BaseResponse":{"Ret":-1,"ErrMsg":"webwxinit answered without a user"},"SyncKey":{"Count":1,"List":[{"Key":1,"Val":1}]},"User":{}}`},
		{`{"BaseResponse":{"Ret":0},"SyncKey":{"Count":1,"List":[{"Key":1,"Val":1}]},"User":{"UserName":"@me"}}`, true, `{"BaseResponse":{"Ret":0},"SyncKey":{"Count":1,"List":[{"Key":1,"Val":1}]},"User":{"UserName":"@me"}}`},
		{`{"SyncKey":{"Count":3,"List":[{"Key":1,"Val":2}]}}`, false, `{"SyncKey":{"Count":1,"List":[{"Key":1,"Val":2}]}}`},
		{`{"SyncKey":{"Count":-1,"List":[]}}`, false, `{"SyncKey":{"Count":0,"List":[]}}`},
		{`{"SyncKey":{"List":[{"Key":1,"Val":2}]}}`, false, `{"SyncKey":{"Count":1,"List":[{"Key":1,"Val":2}]}}`},
		{`not json`, false, `not json`},
		{`[1,2]`, true, `[1,2]`},
	}
	for _, tc := range tests {
		if got := string(guardBody([]byte(tc.in), tc.init)); got != tc.want {
			t.Errorf("guardBody(%s, %v) = %s, want %s", tc.in, tc.init, got, tc.want)
		}
	}
}

// TestFlappingSession checks that a saved session WeChat drops right after
// accepting it is not tried again and again: the next login is a QR login.
func TestFlappingSession(t *testing.T) {
	f := newFakeWeChat(t)
	cfg := testConfig(t.TempDir())
	r := startAdapter(t, f, cfg, &recorder{})
	qrLogin(t, f, r, 1, 1)
	r.stop(t)

	r = startAdapter(t, f, cfg, &recorder{}, func(a *Adapter) { a.minSession = time.Minute })
	waitLoggedIn(t, r)
	inits := f.count("webwxinit")
	f.blip()
	qrLogin(t, f, r, 2, 1)
	if got := f.count("webwxinit") - inits; got != 1 {
		t.Errorf("%d logins after the drop, want just the QR login's", got)
	}
	if !strings.Contains(r.logs.String(), "right after a login with the saved session") {
		t.Error("the drop was not logged")
	}
}
