package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestLogsRedactSecrets: every secret the configuration names (from the
// environment or from *_file keys) is masked in every log line of the
// app's logger, however it got there: an error body echoed by a proxy, a
// URL query, a bound attribute.
func TestLogsRedactSecrets(t *testing.T) {
	dir := t.TempDir()
	const (
		discordToken = "MTA5ODc2NTQzMjEwOTg3NjU0.Gx1y2z.discord-token-value"
		wecomSecret  = "wecom-corp-secret/with+odd=chars"
		wecomToken   = "wecom-callback-token-value"
		aesKey       = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
		webToken     = "dashboard-token-value-123"
		apiKey       = "sk-openai-api-key-value"
		hfToken      = "hf_token_value_abcdef"
	)
	tokenFile := filepath.Join(dir, "wecom-token")
	if err := os.WriteFile(tokenFile, []byte(wecomToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	webFile := filepath.Join(dir, "web-token")
	if err := os.WriteFile(webFile, []byte(webToken), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "chatloop.toml")
	cfgText := fmt.Sprintf("[wecom]\ntoken_file = %q\n[web]\ntoken_file = %q\n[model]\napi_key_env = \"MY_KEY\"\n", tokenFile, webFile)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DISCORD_TOKEN", discordToken)
	t.Setenv("WECOM_SECRET", wecomSecret)
	t.Setenv("WECOM_AES_KEY", aesKey)
	t.Setenv("MY_KEY", apiKey)
	t.Setenv("HF_TOKEN", hfToken)

	var stderr bytes.Buffer
	a := &app{configPath: cfgPath, logLevel: "info", logFormat: "text", stderr: &stderr}
	if err := a.setupLogger(); err != nil {
		t.Fatal(err)
	}
	cmd := &cobra.Command{}
	cmd.Flags().String("config", cfgPath, "")
	_ = cmd.Flags().Set("config", cfgPath)
	if _, err := a.config(cmd); err != nil {
		t.Fatal(err)
	}
	log := a.logger().With("adapter", "discord", "auth", "Bot "+discordToken)
	body := fmt.Sprintf(`{"echo":"Authorization: Bot %s","url":"/cgi-bin/gettoken?corpid=ww1&corpsecret=%s","t":%q,"k":%q,"w":%q,"o":%q,"h":%q}`,
		discordToken, url.QueryEscape(wecomSecret), wecomToken, aesKey, webToken, apiKey, hfToken)
	log.Error("HTTP 401 Unauthorized, "+body, "err", errors.New("discord: "+body), "body", body)
	out := stderr.String()
	for _, s := range []string{discordToken, wecomSecret, url.QueryEscape(wecomSecret), wecomToken, aesKey, webToken, apiKey, hfToken} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q in the log:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "HTTP 401 Unauthorized") {
		t.Errorf("the rest of the line was lost:\n%s", out)
	}
}
