package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChatOnceFailuresExitNonZero is issue 15's item 5: `chat --once`
// exits non-zero when the remote server refuses the key (401) or does not
// know the model (404), or when the question does not fit the context,
// and the error names the setting to fix.
func TestChatOnceFailuresExitNonZero(t *testing.T) {
	status := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, `{"error": {"message": "nope"}}`)
	}))
	defer srv.Close()
	write := func(t *testing.T, cfg string) string {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	remoteCfg := fmt.Sprintf("[model]\nbackend = \"openai\"\nbase_url = %q\nremote_model = \"m\"\napi_key_env = \"CHATLOOP_TEST_ONCE_KEY\"\n", srv.URL+"/v1")
	for _, tc := range []struct {
		name   string
		status int
		want   string
	}{
		{"unauthorized", http.StatusUnauthorized, "model.api_key_env"},
		{"unknown model", http.StatusNotFound, "model.remote_model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status = tc.status
			out, errOut, code := chatloop(t, write(t, remoteCfg), "", "chat", "--once", "hello")
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want non-zero naming %s", code, out, errOut, tc.want)
			}
		})
	}
	t.Run("context too small", func(t *testing.T) {
		cfg := fmt.Sprintf("[model]\npath = %q\ncontext = 64\nmax_tokens = 16\n", tinyModel(t))
		out, errOut, code := chatloop(t, write(t, cfg), "", "chat", "--once", strings.Repeat("a long question ", 40))
		if code == 0 || !strings.Contains(errOut, "model.context") {
			t.Fatalf("exit %d, stdout %q, stderr %q; want non-zero naming model.context", code, out, errOut)
		}
	})
	t.Run("answered", func(t *testing.T) {
		if _, errOut, code := chatloop(t, t.TempDir(), "", "chat", "--backend", "demo", "--once", "hi"); code != 0 {
			t.Fatalf("a good answer: exit %d, %s", code, errOut)
		}
	})
}
