package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the chatloop binary: run with
// GO_WANT_CHATLOOP_MAIN=1 it is chatloop, so end-to-end tests run the real
// program as a subprocess without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("GO_WANT_CHATLOOP_MAIN") == "1" {
		os.Exit(execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv("GO_WANT_CHATLOOP_MCP") == "1" {
		os.Exit(runTestMCPServer()) // an MCP server for [[tools.mcp]] tests
	}
	code := m.Run()
	if tinyModelDir != "" {
		os.RemoveAll(tinyModelDir) // the model tinyModel shares between tests, and its pack cache
	}
	os.Exit(code)
}

// chatloop runs the program as a subprocess in dir with stdin, returning
// its stdout, stderr and exit code.
func chatloop(t *testing.T, dir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO_WANT_CHATLOOP_MAIN=1")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestChatPipedEndToEnd(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := chatloop(t, dir, "hello\n/good\n/regen\n/bad\n", "chat", "--backend", "demo")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4 (answer, vote, alternative, vote):\n%s", len(lines), out)
	}
	if !strings.Contains(lines[0], "You said: hello") || !strings.Contains(lines[2], "You said: hello") {
		t.Errorf("answers are not to the question:\n%s", out)
	}
	if lines[0] == lines[2] {
		t.Errorf("/regen repeated the same answer: %q", lines[0])
	}
	if !strings.Contains(lines[1], "👍") || !strings.Contains(lines[3], "👎") {
		t.Errorf("votes not acknowledged:\n%s", out)
	}
	if !strings.Contains(errOut, "DEMO") {
		t.Errorf("the demo backend is not labelled on stderr: %q", errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "chatloop.db")); err != nil {
		t.Errorf("no feedback database: %v", err)
	}

	// Demo answers are echoes, not training data: left out of exports
	// and stats unless asked for.
	out, errOut, code = chatloop(t, dir, "", "feedback", "export", "--format", "preference", "--out", "-")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("export without --include-demo: exit %d, rows %q, stderr %q; want none", code, out, errOut)
	}
	out, errOut, code = chatloop(t, dir, "", "feedback", "stats")
	if code != 0 || !regexp.MustCompile(`answers\s+0\n`).MatchString(out) || !regexp.MustCompile(`demo answers\s+2 left out`).MatchString(out) {
		t.Fatalf("stats: exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}

	// The terminal chat produced one preference pair.
	out, errOut, code = chatloop(t, dir, "", "feedback", "export", "--format", "preference", "--include-demo", "--out", "-")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 1 {
		t.Fatalf("export gave %d rows, want 1:\n%s", len(rows), out)
	}
	var pair struct {
		Prompt   []map[string]string `json:"prompt"`
		Chosen   []map[string]string `json:"chosen"`
		Rejected []map[string]string `json:"rejected"`
	}
	if err := json.Unmarshal([]byte(rows[0]), &pair); err != nil {
		t.Fatal(err)
	}
	if got := pair.Prompt[len(pair.Prompt)-1]["content"]; got != "hello" {
		t.Errorf("pair prompt ends with %q", got)
	}
	if pair.Chosen[0]["content"] != strings.TrimSpace(lines[0]) || pair.Rejected[0]["content"] != strings.TrimSpace(lines[2]) {
		t.Errorf("pair = %+v; want chosen %q rejected %q", pair, lines[0], lines[2])
	}
}

func TestChatOnce(t *testing.T) {
	out, errOut, code := chatloop(t, t.TempDir(), "", "chat", "--backend", "demo", "--once", "what is two plus two?")
	if code != 0 || !strings.Contains(out, "You said: what is two plus two?") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestBadConfigExits(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte("[bot]\nworkers = -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := chatloop(t, dir, "", "chat", "--backend", "demo", "--once", "hi")
	if code == 0 || !strings.Contains(errOut, "chatloop.toml") || !strings.Contains(errOut, "workers") {
		t.Fatalf("exit %d, stderr %q: want non-zero naming file and key", code, errOut)
	}
}

func TestInitWritesDefaults(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := chatloop(t, dir, "", "init"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	cfg, err := loadConfig(filepath.Join(dir, "chatloop.toml"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bot.Prefix != "/ask " {
		t.Errorf("prefix %q", cfg.Bot.Prefix)
	}
	if _, _, code := chatloop(t, dir, "", "init"); code == 0 {
		t.Error("init overwrote an existing file")
	}
}
