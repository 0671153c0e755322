package ilink

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/internal/redact"
)

// TestRuntimeTokenRedacted: the bot token a QR login hands out, and the
// one read back from the state file at the next start, are registered
// with the log redactor at once, so that an error body echoing the
// request's Authorization header is logged without it.
func TestRuntimeTokenRedacted(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway; request headers: Authorization: "+r.Header.Get("Authorization"), http.StatusBadGateway)
	}))
	t.Cleanup(echo.Close)
	f := newFakeILink(t)
	dir := t.TempDir()
	cfg := testConfig(f, dir)
	check := func(r *running, tok string) {
		t.Helper()
		err := r.a.api.post(context.Background(), "sendtyping", echo.URL, "ilink/bot/sendtyping", tok, map[string]string{}, apiTimeout, &struct{}{})
		if err == nil || !strings.Contains(err.Error(), tok) {
			t.Fatalf("the echoing proxy did not echo the token: %v", err)
		}
		r.a.log.Error("sending failed", "err", err)
		if logs := r.logs.String(); strings.Contains(logs, tok) || !strings.Contains(logs, redact.Mask) {
			t.Errorf("the bot token reached the log:\n%s", logs)
		}
	}

	var secrets redact.Secrets
	r := startAdapterWith(t, cfg, nullHandler{}, &secrets)
	tok := qrLogin(t, f, r, 1)
	check(r, tok)
	r.stop(t)

	if _, err := os.Stat(filepath.Join(dir, "state", "wechat-ilink.json")); err != nil {
		t.Fatal(err)
	}
	var fresh redact.Secrets
	r = startAdapterWith(t, cfg, nullHandler{}, &fresh)
	waitFor(t, "the stored login", 5e9, r.loggedIn)
	check(r, tok)
}
