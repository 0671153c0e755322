package wecom

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoticeQueue: with WeCom's API hanging, a flood of callbacks that
// each call for a notice holds noticeSenders requests at once, queues
// noticeQueue more, and drops the rest, logging the count. Once the API
// answers again, every queued notice is sent.
func TestNoticeQueue(t *testing.T) {
	f := newFakeWeCom(t)
	api := newHangingAPI(t)
	cfg := testConfig(t, f)
	cfg.APIURL = api.srv.URL
	ln, base := listen(t)
	logs := &lockedBuffer{}
	a, err := New(cfg, nopHandler{}, slog.New(slog.NewTextHandler(logs, nil)), WithListener(ln))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	target := base + cfg.path()

	const extra = 64 // a power of two: the drop count is logged then
	flood := noticeSenders + noticeQueue + extra
	for i := range flood {
		c := f.seal(fmt.Sprintf("<xml><ToUserName>%s</ToUserName><FromUserName>u%d</FromUserName><MsgType>image</MsgType><MsgId>%d</MsgId></xml>", fakeCorpID, i, 9000+i), time.Now())
		if got := postBody(t, target, c, "<xml><Encrypt>"+c.encrypt+"</Encrypt></xml>"); got != http.StatusOK {
			t.Fatalf("callback %d: %d", i, got)
		}
	}
	waitFor(t, "the senders to be held", func() bool { peak, _ := api.stats(); return peak == noticeSenders })
	time.Sleep(200 * time.Millisecond)
	if peak, total := api.stats(); peak != noticeSenders || total != noticeSenders {
		t.Errorf("%d requests held at once, %d in all, while the API hangs; want %d", peak, total, noticeSenders)
	}
	if got := a.sends.Dropped(); got != extra {
		t.Errorf("%d notices dropped, want %d", got, extra)
	}
	if !strings.Contains(logs.String(), "queue is full") || !strings.Contains(logs.String(), fmt.Sprintf("dropped=%d", extra)) {
		t.Errorf("the log does not say %d notices were dropped:\n%s", extra, logs.String())
	}
	api.unblock()
	waitFor(t, "the queued notices to be sent", func() bool { _, total := api.stats(); return total == noticeSenders+noticeQueue })
	time.Sleep(100 * time.Millisecond)
	if _, total := api.stats(); total != noticeSenders+noticeQueue {
		t.Errorf("%d notices sent in all, want the %d held and queued", total, noticeSenders+noticeQueue)
	}
}
