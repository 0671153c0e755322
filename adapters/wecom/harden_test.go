package wecom

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// countHandler counts the messages and reactions the adapter hands on.
type countHandler struct {
	messages, reactions atomic.Int64
}

func (h *countHandler) HandleMessage(context.Context, bot.Message, bot.Replier) { h.messages.Add(1) }
func (h *countHandler) HandleReaction(context.Context, bot.Reaction, bot.Replier) {
	h.reactions.Add(1)
}
func (h *countHandler) Withdraw(string, bot.ChatID, bot.MessageID) {}

// runAdapter builds an adapter from cfg with opts, serves it on loopback
// and returns it with its callback URL; tweak may change it before Run.
func runAdapter(t *testing.T, cfg Config, h bot.Handler, tweak func(*Adapter), opts ...Option) (*Adapter, string) {
	t.Helper()
	ln, base := listen(t)
	a, err := New(cfg, h, slog.New(slog.DiscardHandler), append([]Option{WithListener(ln)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return a, base + cfg.path()
}

func postBody(t *testing.T, target string, c callback, body string) int {
	t.Helper()
	resp, err := http.Post(target+"?"+c.query(), "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestCallbackBodyCapped: a correctly signed callback padded past the
// 64 KiB cap is refused with 413 and never reaches the core; a real one
// (a few KB) still passes.
func TestCallbackBodyCapped(t *testing.T) {
	f := newFakeWeCom(t)
	h := &countHandler{}
	_, target := runAdapter(t, testConfig(t, f), h, nil)
	c := f.seal(textXML("u1", "hello", 501), time.Now())
	body := "<xml><Encrypt><![CDATA[" + c.encrypt + "]]></Encrypt>" + strings.Repeat(" ", 100<<10) + "</xml>"
	if got := postBody(t, target, c, body); got != http.StatusRequestEntityTooLarge {
		t.Errorf("a 100 KiB callback got %d, want %d", got, http.StatusRequestEntityTooLarge)
	}
	c = f.seal(textXML("u1", strings.Repeat("长", 600), 502), time.Now())
	if got := postBody(t, target, c, "<xml><Encrypt><![CDATA["+c.encrypt+"]]></Encrypt></xml>"); got != http.StatusOK {
		t.Errorf("a 2 KB callback got %d", got)
	}
	waitFor(t, "the small callback handed on", func() bool { return h.messages.Load() == 1 })
}

// TestSignatureBeforeXML: a forged callback is refused for its signature
// (403) even when its XML is broken or deeply nested: the signature over
// the Encrypt field is checked before any XML parser runs.
func TestSignatureBeforeXML(t *testing.T) {
	f := newFakeWeCom(t)
	_, target := runAdapter(t, testConfig(t, f), nopHandler{}, nil)
	c := f.seal(textXML("u1", "hi", 503), time.Now())
	c.sig = strings.Repeat("0", 40)
	for name, body := range map[string]string{
		"unclosed": "<xml><Encrypt>" + c.encrypt + "</Encrypt><a><b>",
		"nested":   "<xml><Encrypt>" + c.encrypt + "</Encrypt>" + strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000) + "</xml>",
		"cdata":    "<xml><Encrypt><![CDATA[" + c.encrypt + "]]></Encrypt><!DOCTYPE x [<!ENTITY a \"b\">]></xml>",
	} {
		if got := postBody(t, target, c, body); got != http.StatusForbidden {
			t.Errorf("%s: forged callback got %d, want 403", name, got)
		}
	}
	for _, tc := range []struct {
		body string
		want string
		ok   bool
	}{
		{"<xml><Encrypt>abc</Encrypt></xml>", "abc", true},
		{"<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>", "abc", true},
		{"<xml>\n  <Encrypt> <![CDATA[a+b/=]]> </Encrypt>\n</xml>", "a+b/=", true},
		{"<xml><Encrypt>abc", "", false},
		{"<xml><Encrypt><![CDATA[abc</Encrypt></xml>", "", false},
		{"<xml></xml>", "", false},
		{"<xml><Encrypt></Encrypt></xml>", "", false},
	} {
		got, ok := encryptField([]byte(tc.body))
		if got != tc.want || ok != tc.ok {
			t.Errorf("encryptField(%q) = %q, %v; want %q, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

// TestConnectionsCapped: connections beyond the cap wait in the kernel's
// backlog rather than each holding a buffer; once a stalled one is dropped
// at the body deadline, a real callback gets through.
func TestConnectionsCapped(t *testing.T) {
	f := newFakeWeCom(t)
	h := &countHandler{}
	const limit = 4
	_, target := runAdapter(t, testConfig(t, f), h, func(a *Adapter) { a.bodyTimeout = 2 * time.Second }, WithMaxConnections(limit))
	host := strings.TrimPrefix(strings.SplitN(target, "/wecom", 2)[0], "http://")
	var stalled []net.Conn
	for range limit {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		// Headers complete, the body promised and never sent.
		fmt.Fprintf(conn, "POST /wecom/callback?msg_signature=x&timestamp=1&nonce=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n<xml>")
		stalled = append(stalled, conn)
	}
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the server accept them
	done := make(chan int, 1)
	go func() {
		c := f.seal(textXML("u2", "still there?", 504), time.Now())
		done <- postBody(t, target, c, "<xml><Encrypt>"+c.encrypt+"</Encrypt></xml>")
	}()
	select {
	case got := <-done:
		t.Fatalf("a callback was served (%d) while %d stalled connections held every slot", got, limit)
	case <-time.After(500 * time.Millisecond):
	}
	// The stalled ones are cut at the body deadline; the waiting callback
	// then gets a slot.
	select {
	case got := <-done:
		if got != http.StatusOK {
			t.Fatalf("callback after the stalled ones were dropped: %d", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stalled connections were not dropped at the body deadline")
	}
	for _, c := range stalled {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			// An error status line is fine too; what matters is that the
			// connection ends.
			continue
		}
	}
	waitFor(t, "the callback handed on", func() bool { return h.messages.Load() == 1 })
}

// hangingAPI is a WeCom API that gives out tokens and then never answers,
// counting the requests it holds at once.
type hangingAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	inFlight int
	peak     int
	total    int
	release  chan struct{}
	once     sync.Once
}

func newHangingAPI(t *testing.T) *hangingAPI {
	h := &hangingAPI{release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/gettoken") {
			writeJSON(w, map[string]any{"errcode": 0, "access_token": "t", "expires_in": 7200})
			return
		}
		h.mu.Lock()
		h.inFlight++
		h.total++
		h.peak = max(h.peak, h.inFlight)
		h.mu.Unlock()
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		h.mu.Lock()
		h.inFlight--
		h.mu.Unlock()
		http.Error(w, "gone", http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { h.unblock(); h.srv.Close() })
	return h
}

// unblock lets every held and later request answer (503).
func (h *hangingAPI) unblock() { h.once.Do(func() { close(h.release) }) }

func (h *hangingAPI) stats() (peak, total int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peak, h.total
}

// memSeen is an in-memory SeenStore standing for the persistent one.
type memSeen struct {
	mu   sync.Mutex
	keys map[string]time.Time
	err  error
}

func (m *memSeen) FirstSeen(_ context.Context, key string, now, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	if exp, ok := m.keys[key]; ok && now.Before(exp) {
		return false, nil
	}
	m.keys[key] = until
	return true, nil
}

// TestReplayAfterRestart: a callback captured and played again after the
// adapter restarted (a new process: the memory guard is empty) is refused
// because the seen keys live in the SeenStore.
func TestReplayAfterRestart(t *testing.T) {
	f := newFakeWeCom(t)
	seen := &memSeen{keys: map[string]time.Time{}}
	cfg := testConfig(t, f)
	c := f.seal(textXML("u3", "once only", 505), time.Now())
	body := "<xml><Encrypt>" + c.encrypt + "</Encrypt></xml>"

	h1 := &countHandler{}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ln, base := listen(t)
	a1, err := New(cfg, h1, slog.New(slog.DiscardHandler), WithListener(ln), WithSeenStore(seen))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a1.Run(ctx1) }()
	if got := postBody(t, base+cfg.path(), c, body); got != http.StatusOK {
		t.Fatalf("first delivery: %d", got)
	}
	waitFor(t, "first delivery handed on", func() bool { return h1.messages.Load() == 1 })
	cancel1()
	<-done

	h2 := &countHandler{}
	_, target := runAdapter(t, cfg, h2, nil, WithSeenStore(seen))
	if got := postBody(t, target, c, body); got != http.StatusConflict {
		t.Errorf("replay after a restart: %d, want %d", got, http.StatusConflict)
	}
	// A resend by WeCom (same MsgId, newly signed) is acknowledged and
	// dropped.
	c2 := f.seal(textXML("u3", "once only", 505), time.Now())
	if got := postBody(t, target, c2, "<xml><Encrypt>"+c2.encrypt+"</Encrypt></xml>"); got != http.StatusOK {
		t.Errorf("resend after a restart: %d", got)
	}
	time.Sleep(100 * time.Millisecond)
	if n := h2.messages.Load(); n != 0 {
		t.Errorf("the replayed message was handed on %d times after the restart", n)
	}
}
