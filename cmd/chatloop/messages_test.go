package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMessagesNameWhatTheUserNamed is issue 15's item 11: errors name the
// file the user gave, never the temporary file beside it, and never say
// the adapter's name twice ("[discord]: discord: …").
func TestMessagesNameWhatTheUserNamed(t *testing.T) {
	db := feedbackDB(t)
	out := filepath.Join(t.TempDir(), "missing-dir", "pairs.jsonl")
	_, errOut, code := feedbackCLI(t, "feedback", "export", "--db", db, "--out", out)
	if code == 0 || !strings.Contains(errOut, out) || strings.Contains(errOut, ".tmp") {
		t.Errorf("export into a missing directory: exit %d, stderr %q; want the error to name %s and no temporary file", code, errOut, out)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte("[web]\nlisten = \"\"\n[discord]\nenabled = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DISCORD_TOKEN", "")
	_, errOut, code = chatloop(t, dir, "", "run", "--backend", "demo")
	if low := strings.ToLower(errOut); code == 0 || strings.Contains(low, "discord: discord") || strings.Contains(low, "[discord]: discord:") || !strings.Contains(errOut, "DISCORD_TOKEN") {
		t.Errorf("run without a Discord token: exit %d, stderr %q; want the adapter named once", code, errOut)
	}
}
