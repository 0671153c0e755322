package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunChecksBeforeTheModel is issue 15's item 2: run checks that an
// adapter is enabled and that its secrets are there before it loads (or
// offers to download) a model, and creates no database when it stops
// there.
func TestRunChecksBeforeTheModel(t *testing.T) {
	for _, tc := range []struct {
		name, config, want string
	}{
		{"nothing enabled", "", "no adapter is enabled"},
		{"no Discord token", "[discord]\nenabled = true\n", "no Discord bot token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte("[web]\nlisten = \"\"\n"+tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			// The default backend is the local model, which is not in
			// this empty cache: touching it would fail (or ask to pull).
			t.Setenv("DISCORD_TOKEN", "")
			t.Setenv("HOME", dir)
			t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
			out, errOut, code := chatloop(t, dir, "", "run")
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want an error saying %q", code, out, errOut, tc.want)
			}
			for _, bad := range []string{"model", "download", "pull"} {
				if strings.Contains(strings.ToLower(errOut), bad) {
					t.Errorf("run got to the model (%q in the output): %s", bad, errOut)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "chatloop.db")); !os.IsNotExist(err) {
				t.Errorf("a database was created: %v", err)
			}
		})
	}
}
