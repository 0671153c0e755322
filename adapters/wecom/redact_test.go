package wecom

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/internal/redact"
)

// TestRuntimeTokenRedacted: the access token fetched from WeCom's API at
// run time is registered with the log redactor as soon as it arrives, so
// that an error body that echoes it (a proxy, or WeCom's own hint) is
// logged without it.
func TestRuntimeTokenRedacted(t *testing.T) {
	const token = "RUNTIME-access-token-7f3a9c"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/gettoken") {
			writeJSON(w, map[string]any{"errcode": 0, "access_token": token, "expires_in": 7200})
			return
		}
		writeJSON(w, map[string]any{"errcode": 40058, "errmsg": "invalid parameter, request: " + r.URL.RawQuery})
	}))
	t.Cleanup(api.Close)
	f := newFakeWeCom(t)
	cfg := testConfig(t, f)
	cfg.APIURL = api.URL

	var logs bytes.Buffer
	var secrets redact.Secrets
	log := slog.New(redact.NewHandler(slog.NewTextHandler(&logs, nil), &secrets))
	a, err := New(cfg, nopHandler{}, log, WithHTTPClient(api.Client()), WithRedactor(secrets.Add))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.api.sendText(context.Background(), "u", "hello")
	if err == nil || !strings.Contains(err.Error(), token) {
		t.Fatalf("the fake API did not echo the token: %v", err)
	}
	a.log.Error("sending failed", "err", err)
	if strings.Contains(logs.String(), token) || !strings.Contains(logs.String(), redact.Mask) {
		t.Errorf("the runtime token reached the log:\n%s", logs.String())
	}
}
