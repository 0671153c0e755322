package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestToolsConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := loadConfig(write(`
[tools]
enabled = true
search_url = "http://127.0.0.1:8888/search"
max_rounds = 5
budget = "90s"
max_result_tokens = 2000
groups = true
admin_only = ["files_*"]
platforms = { discord = ["web_search", "fetch_url"] }
chats = { "wechat:family" = ["current_time"] }

[[tools.mcp]]
name = "files"
command = ["mcp-files", "/srv"]
admin_only = true

[[tools.mcp]]
name = "wiki"
url = "http://127.0.0.1:9000/mcp"
`), true, []string{"CHATLOOP_TOOLS_MAX_ROUNDS=4"})
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.Tools
	o := tc.options(nil)
	if !tc.Enabled || o.MaxRounds != 4 || o.Budget != 90*time.Second || o.MaxResultTokens != 2000 || !o.Policy.Groups ||
		!slices.Equal(o.Policy.Platforms["discord"], []string{"web_search", "fetch_url"}) || !slices.Equal(o.Policy.Chats["wechat:family"], []string{"current_time"}) ||
		len(tc.MCP) != 2 || tc.MCP[0].Name != "files" || !tc.MCP[0].AdminOnly || tc.MCP[1].URL != "http://127.0.0.1:9000/mcp" {
		t.Errorf("read %+v", tc)
	}

	bad := []struct{ text, want string }{
		{"max_rounds = 0", "key tools.max_rounds"},
		{"max_rounds = 17", "section tools: key max_rounds"},
		{`budget = "10ms"`, "section tools: key budget"},
		{`budget = "0s"`, "key tools.budget"},
		{"max_result_tokens = 2", "section tools: key max_result_tokens"},
		{`search_url = "localhost:8888"`, "key tools.search_url"},
		{`timezone = "Mars/Olympus"`, "key tools.timezone"},
		{`call_timeout = "0s"`, "key tools.call_timeout"},
		{"search_results = 0", "key tools.search_results"},
		{`admin_only = ["[x"]`, "section tools: key admin_only"},
		{`chats = { family = ["x"] }`, "section tools: key chats"},
		{"[[tools.mcp]]\nname = \"a_b\"\ncommand = [\"x\"]", "tools.mcp: name"},
		{"[[tools.mcp]]\nname = \"web\"\ncommand = [\"x\"]", "clash with the built-in tools"},
		{"[[tools.mcp]]\nname = \"a\"\ncommand = [\"x\"]\n[[tools.mcp]]\nname = \"a\"\nurl = \"http://h/\"", "used twice"},
		{"[[tools.mcp]]\nname = \"a\"", "set command (stdio) or url"},
		{"[[tools.mcp]]\nname = \"a\"\nurl = \"http://h/\"\nbogus = 1", "unknown key tools.mcp.bogus"},
	}
	for _, b := range bad {
		_, err := loadConfig(write("[tools]\n"+b.text+"\n"), true, nil)
		if err == nil || !strings.Contains(err.Error(), b.want) || !strings.Contains(err.Error(), "c.toml") {
			t.Errorf("%q: err %v, want one in c.toml mentioning %q", b.text, err, b.want)
		}
	}
	// A bad value from the environment is blamed on its variable.
	_, err = loadConfig(write(""), true, []string{"CHATLOOP_TOOLS_MAX_ROUNDS=99"})
	if err == nil || !strings.Contains(err.Error(), "CHATLOOP_TOOLS_MAX_ROUNDS") {
		t.Errorf("env max_rounds 99: %v", err)
	}
}
