package wecom

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/chatloop/chatloop/adapters/adaptertest"
)

// TestAdapterReportsConnection: the adapter is up once it serves the
// callback and while WeCom's API answers, and down with the reason when
// the API cannot be reached; up again once a call goes through.
func TestAdapterReportsConnection(t *testing.T) {
	f := newFakeWeCom(t)
	core := startCore(t, openStore(t), nil)
	cfg := testConfig(t, f)
	conn := &adaptertest.ConnLog{}
	ln, base := listen(t)
	a, err := New(cfg, core, slog.New(slog.DiscardHandler), WithListener(ln), WithConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	target := base + cfg.path()

	n := conn.WaitFor(t, 0, "up")
	f.post(t, target, f.seal(textXML("zhangsan", "are you there?", 2001), time.Now()))
	f.waitSent(t, 0, 2)
	n = conn.WaitFor(t, n, "up")

	// WeCom's API goes away: the next answer cannot be sent.
	f.srv.Close()
	f.post(t, target, f.seal(textXML("zhangsan", "and now?", 2002), time.Now()))
	conn.WaitFor(t, n, "down: …")
	if e := conn.Events(n); len(e) == 0 || e[len(e)-1] == "up" {
		t.Errorf("after the API went away the adapter reported %q", e)
	}
}
