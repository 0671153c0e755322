package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/internal/redact"
	"github.com/chatloop/chatloop/metrics"
	"github.com/chatloop/chatloop/web"
)

// adapterWatch shows what each adapter reports on the dashboard's
// Adapters page and in chatloop_adapter_up: its connection (platform.Conn)
// and the warnings and errors it logs without stopping.
type adapterWatch struct {
	board   *web.Adapters
	met     *metrics.Metrics
	secrets *redact.Secrets
}

// env is base for the adapter called name, reporting to w.
func (w adapterWatch) env(base platform.Env, name string) platform.Env {
	base.Conn = adapterConn{w: w, name: name}
	base.Log = slog.New(&troubleTee{next: base.Log.Handler(), report: func(text string) {
		w.board.Failed(name, fmt.Errorf("%s", w.secrets.String(text)))
	}})
	return base
}

// adapterConn is one adapter's platform.Conn.
type adapterConn struct {
	w    adapterWatch
	name string
}

func (c adapterConn) Up() {
	c.w.board.Up(c.name)
	c.w.met.AdapterUp(c.name, true)
}

func (c adapterConn) Down(err error) {
	c.w.board.Down(c.name, fmt.Errorf("%s", c.w.secrets.String(err.Error())))
	c.w.met.AdapterUp(c.name, false)
}

// troubleTee passes every record to next and reports the text of those at
// warning level and above ("message: err").
type troubleTee struct {
	next   slog.Handler
	report func(string)
}

func (t *troubleTee) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || t.next.Enabled(ctx, l)
}

func (t *troubleTee) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		text := r.Message
		find := func(a slog.Attr) bool {
			if a.Key == "err" {
				text += ": " + a.Value.String()
				return false
			}
			return true
		}
		r.Attrs(find)
		t.report(text)
	}
	if !t.next.Enabled(ctx, r.Level) {
		return nil
	}
	return t.next.Handle(ctx, r)
}

func (t *troubleTee) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &troubleTee{next: t.next.WithAttrs(attrs), report: t.report}
}

func (t *troubleTee) WithGroup(name string) slog.Handler {
	return &troubleTee{next: t.next.WithGroup(name), report: t.report}
}
