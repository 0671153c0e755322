package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/internal/redact"
	"github.com/chatloop/chatloop/metrics"
	"github.com/chatloop/chatloop/web"
)

// TestAdapterWatch: what an adapter logs at warning level and above
// becomes its last error on the Adapters page, its connection reports
// its state, and neither shows a secret.
func TestAdapterWatch(t *testing.T) {
	var secrets redact.Secrets
	secrets.Add("tok-5ecret-value")
	var logs bytes.Buffer
	base := platform.Env{Log: slog.New(redact.NewHandler(slog.NewTextHandler(&logs, nil), &secrets))}
	board := web.NewAdapters(nil)
	board.Add("wecom", "")
	board.Started("wecom")
	w := adapterWatch{board: board, met: metrics.New(), secrets: &secrets}
	env := w.env(base, "wecom")

	env.Log.Info("serving the callback")
	if st := board.States()[0]; st.LastError != "" {
		t.Errorf("an info line became the last error %q", st.LastError)
	}
	env.Log.With("adapter", "wecom").Warn("sending a notice", "n", 3, "err", errors.New("HTTP 500: token tok-5ecret-value refused"))
	st := board.States()[0]
	if !strings.HasPrefix(st.LastError, "sending a notice: HTTP 500: token ") || strings.Contains(st.LastError, "5ecret") {
		t.Errorf("last error %q, want the warning with its err and no secret", st.LastError)
	}
	if !strings.Contains(logs.String(), "sending a notice") || strings.Contains(logs.String(), "5ecret") {
		t.Errorf("the log lost the line or shows the secret: %q", logs.String())
	}

	env.Connection().Down(errors.New("gettoken: tok-5ecret-value"))
	if st := board.States()[0]; st.Connected || !st.Reported || strings.Contains(st.Down, "5ecret") || !strings.HasPrefix(st.Down, "gettoken: ") {
		t.Errorf("after Down: %+v", st)
	}
	env.Connection().Up()
	if st := board.States()[0]; !st.Connected || st.Down != "" {
		t.Errorf("after Up: %+v", st)
	}
}
