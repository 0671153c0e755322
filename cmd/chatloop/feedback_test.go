package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/socket"
)

// feedbackCLI runs chatloop in process with args, returning stdout,
// stderr and the exit code.
func feedbackCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	// An empty configuration: built-in defaults, whatever lies in the
	// working directory.
	cfg := filepath.Join(t.TempDir(), "chatloop.toml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--config", cfg}, args...)
	code := execute(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// feedbackDB makes a database holding one prompt answered twice, the
// first voted up and the second down (one preference pair), and returns
// its path.
func feedbackDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "feedback.db")
	s, err := feedback.Open(path, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	prompt := []bot.Turn{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "hello"}}
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, text := range []string{"Hello!", "Go away."} {
		a := bot.Answer{
			ID: bot.AnswerID("01J0000000000000000000000" + string(rune('1'+i))), GroupID: "g1",
			Platform: "discord", ChatID: "chan", AskerID: "asker-1", Created: created.Add(time.Duration(i) * time.Minute),
			Prompt: prompt, Text: text, Finished: true, Sent: true,
			Model: bot.ModelInfo{Backend: "local", Name: "tiny", Quantization: "Q8_0"},
		}
		if err := s.RecordAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Vote(ctx, a.ID, "discord", "voter-1", 1-2*i); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestFeedbackExportCLI(t *testing.T) {
	db := feedbackDB(t)
	out, errOut, code := feedbackCLI(t, "feedback", "export", "--db", db, "--format", "preference", "--out", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var row struct {
		Prompt, Chosen, Rejected []bot.Turn
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("want one preference row, got:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatal(err)
	}
	if row.Chosen[0].Content != "Hello!" || row.Rejected[0].Content != "Go away." || len(row.Prompt) != 2 {
		t.Errorf("row %+v", row)
	}
	if !strings.Contains(errOut, "wrote 1 preference row to standard output") {
		t.Errorf("stderr %q does not report the row count", errOut)
	}

	file := filepath.Join(t.TempDir(), "kto.jsonl")
	if _, errOut, code := feedbackCLI(t, "feedback", "export", "--db", db, "--format", "kto", "--out", file); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 2 || !strings.Contains(string(data), `"label":false`) {
		t.Errorf("kto file has %d rows:\n%s", n, data)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
	}

	// Filters reach the store.
	out, _, _ = feedbackCLI(t, "feedback", "export", "--db", db, "--format", "kto", "--since", "2026-03-01T12:00:30Z")
	if strings.Count(out, "\n") != 1 {
		t.Errorf("--since kept %d rows, want 1", strings.Count(out, "\n"))
	}
	out, _, _ = feedbackCLI(t, "feedback", "export", "--db", db, "--format", "kto", "--platform", "wechat")
	if out != "" {
		t.Errorf("--platform wechat kept rows:\n%s", out)
	}

	// Bad input: a clear error and no file.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	for _, args := range [][]string{
		{"--format", "csv", "--out", bad},
		{"--since", "yesterday", "--out", bad},
		{"--since", "2026-03-02", "--until", "2026-03-01", "--out", bad},
	} {
		_, errOut, code := feedbackCLI(t, append([]string{"feedback", "export", "--db", db}, args...)...)
		if code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		if _, err := os.Stat(bad); err == nil {
			t.Errorf("%v left a file behind", args)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(bad))
	if len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
	if _, errOut, code := feedbackCLI(t, "feedback", "stats", "--db", filepath.Join(t.TempDir(), "missing.db")); code == 0 || !strings.Contains(errOut, "no feedback database") {
		t.Errorf("missing database: exit %d, %q", code, errOut)
	}
}

func TestFeedbackStatsCLI(t *testing.T) {
	db := feedbackDB(t)
	out, errOut, code := feedbackCLI(t, "feedback", "stats", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var st feedback.Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Answers != 2 || st.Up != 1 || st.Down != 1 || st.Pairs != 1 || st.KTORows != 2 || st.SFTRows != 1 {
		t.Errorf("stats %+v", st)
	}
	out, _, code = feedbackCLI(t, "feedback", "stats", "--db", db)
	for _, want := range []string{"answers", "2 (1 up, 1 down, approval 50.0%)", "preference pairs", "tiny Q8_0", "2026-03-01", "model version", "9.5% – 90.5%"} {
		if !strings.Contains(out, want) || code != 0 {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}
}

func TestFeedbackForgetAndBackupCLI(t *testing.T) {
	db := feedbackDB(t)
	for _, u := range []string{"", "discord", ":x", "discord:", "Discord :1", " discord:1"} {
		if _, errOut, code := feedbackCLI(t, "feedback", "forget", "--db", db, "--user", u); code == 0 || !strings.Contains(errOut, "PLATFORM:ID") {
			t.Errorf("--user %q: exit %d, %q", u, code, errOut)
		}
	}
	out, errOut, code := feedbackCLI(t, "feedback", "forget", "--db", db, "--user", "discord:voter-1")
	if code != 0 || !strings.Contains(out, "removed 2 votes") {
		t.Errorf("forget votes: exit %d, %q %q", code, out, errOut)
	}
	out, _, _ = feedbackCLI(t, "feedback", "forget", "--db", db, "--user", "discord:asker-1", "--prompts")
	if !strings.Contains(out, "2 answers to their questions") {
		t.Errorf("forget prompts: %q", out)
	}

	dst := filepath.Join(t.TempDir(), "copy.db")
	out, errOut, code = feedbackCLI(t, "feedback", "backup", "--db", db, dst)
	if code != 0 || !strings.Contains(out, "backed up") {
		t.Fatalf("backup: exit %d, %q %q", code, out, errOut)
	}
	if _, errOut, code := feedbackCLI(t, "feedback", "backup", "--db", db, dst); code == 0 || !strings.Contains(errOut, "--force") {
		t.Errorf("backup over an existing file: exit %d, %q", code, errOut)
	}
	if _, errOut, code := feedbackCLI(t, "feedback", "backup", "--db", db, "--force", db); code == 0 || !strings.Contains(errOut, "database itself") {
		t.Errorf("backup over the database: exit %d, %q", code, errOut)
	}
	out, _, _ = feedbackCLI(t, "feedback", "stats", "--db", dst, "--json")
	if !strings.Contains(out, `"answers": 0`) {
		t.Errorf("the backup is not the forgotten state:\n%s", out)
	}
}

// TestFeedbackCommandsWhileHeld holds the database as chatloop run does
// (open, serving its socket) and runs the commands against it.
func TestFeedbackCommandsWhileHeld(t *testing.T) {
	db := feedbackDB(t)
	s, err := feedback.Open(db, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Held and nobody serving: a clear error, quickly.
	begun := time.Now()
	_, errOut, code := feedbackCLI(t, "feedback", "stats", "--db", db)
	if code == 0 || !strings.Contains(errOut, "held by another process") {
		t.Errorf("held, no socket: exit %d, %q", code, errOut)
	}
	if took := time.Since(begun); took > 5*time.Second {
		t.Errorf("held, no socket: took %v", took)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := socket.Serve(ctx, s, db+".sock", nil); err != nil {
			t.Error(err)
		}
	})
	defer wg.Wait()
	defer cancel()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(db + ".sock"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	out, errOut, code := feedbackCLI(t, "feedback", "export", "--db", db, "--format", "preference")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"chosen"`) {
		t.Errorf("export while held: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = feedbackCLI(t, "feedback", "stats", "--db", db)
	if code != 0 || !strings.Contains(out, "via "+db+".sock") {
		t.Errorf("stats while held: exit %d, %q %q", code, out, errOut)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if out, errOut, code := feedbackCLI(t, "feedback", "backup", "--db", db, dst); code != 0 {
		t.Errorf("backup while held: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = feedbackCLI(t, "feedback", "forget", "--db", db, "--user", "discord:voter-1")
	if code != 0 || !strings.Contains(out, "removed 2 votes") {
		t.Errorf("forget while held: exit %d, %q %q", code, out, errOut)
	}
	// The running process sees the removal at once.
	if st, err := s.Stats(ctx); err != nil || st.Votes != 0 {
		t.Errorf("after forget: %+v, %v", st, err)
	}
	out, _, _ = feedbackCLI(t, "feedback", "stats", "--db", dst, "--json")
	if !strings.Contains(out, `"votes": 2`) {
		t.Errorf("backup taken while held lacks the votes:\n%s", out)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2026-03-01", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true},
		{"2026-03-01T10:00:00+02:00", time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), true},
		{"7d", now.AddDate(0, 0, -7), true},
		{"36h", now.Add(-36 * time.Hour), true},
		{"-3h", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"d", time.Time{}, false},
		{"2026-13-01", time.Time{}, false},
	}
	for _, c := range cases {
		got, err := parseWhen(c.in, now)
		if (err == nil) != c.ok || !got.Equal(c.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
}

func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"", "2026-03-01", "2026-03-01T10:00:00Z", "7d", "36h", "9999999999d", "-1d", "1e9h"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen(s, now)
		if err != nil && !got.IsZero() {
			t.Errorf("parseWhen(%q) returned %v with error %v", s, got, err)
		}
	})
}

func FuzzParseUser(f *testing.F) {
	for _, s := range []string{"discord:1", "wechat:wxid_a:b", ":", "x", "a b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		platform, id, err := parseUser(s)
		if err != nil {
			return
		}
		if platform == "" || id == "" || !strings.Contains(s, platform+":"+string(id)) {
			t.Errorf("parseUser(%q) = %q, %q", s, platform, id)
		}
	})
}
