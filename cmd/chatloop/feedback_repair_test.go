package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestCorruptDatabaseCommands: with pages of the database zeroed, stats
// and export fail with the "corrupt" error naming check and salvage (no
// panic, no stack trace), check says what is wrong, and salvage writes a
// new file that stats reads.
func TestCorruptDatabaseCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "fb.db")
	s, err := feedback.Open(db, feedback.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200 {
		id := bot.AnswerID("01J" + strings.Repeat("0", 20) + string(rune('A'+i/26%26)) + string(rune('A'+i%26)) + "0")
		a := bot.Answer{ID: id, GroupID: bot.GroupID(id), Platform: "test", ChatID: "c", Created: t0.Add(time.Duration(i) * time.Minute),
			Prompt: []bot.Turn{{Role: bot.RoleUser, Content: strings.Repeat("question ", 60)}}, Text: strings.Repeat("answer ", 60), Finished: true, Sent: true,
			Model: bot.ModelInfo{Backend: "local", Name: "m"}}
		if err := s.RecordAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Vote(ctx, id, "test", "v", 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for i := 4 * 4096; i < len(data)/2; i++ {
		data[i] = 0
	}
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"feedback", "stats", "--db", db}, {"feedback", "export", "--db", db, "--format", "raw"}, {"feedback", "check", "--db", db}} {
		out, errOut, code := chatloop(t, dir, "", args...)
		if code == 0 || strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
			t.Errorf("%v: exit %d\nstdout: %.300s\nstderr: %s", args, code, out, errOut)
		}
		if !strings.Contains(errOut, "corrupt") || !strings.Contains(errOut, "chatloop feedback check") || !strings.Contains(errOut, "chatloop feedback salvage") {
			t.Errorf("%v: stderr does not say corrupt and name check and salvage:\n%s", args, errOut)
		}
	}
	out := filepath.Join(dir, "salvaged.db")
	stdout, errOut, code := chatloop(t, dir, "", "feedback", "salvage", db, out)
	if code != 0 || !strings.Contains(stdout, "salvaged ") || !strings.Contains(stdout, "lost:") {
		t.Fatalf("salvage: exit %d\n%s\n%s", code, stdout, errOut)
	}
	stdout, errOut, code = chatloop(t, dir, "", "feedback", "check", "--db", out)
	if code != 0 || !strings.Contains(stdout, "ok (") {
		t.Errorf("check of the salvaged copy: exit %d\n%s\n%s", code, stdout, errOut)
	}
	if _, errOut, code = chatloop(t, dir, "", "feedback", "stats", "--db", out); code != 0 {
		t.Errorf("stats of the salvaged copy: exit %d\n%s", code, errOut)
	}
}
