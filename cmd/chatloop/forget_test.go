package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestForgetWeChatIDForms is issue 15's item 9: the WeChat adapter knows
// people by the remark name the account gave them (else "~" and their
// nickname), so that is what forget's help shows and what matches; an id
// that matches nothing fails and says which id forms the platform has.
func TestForgetWeChatIDForms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feedback.db")
	s, err := feedback.Open(path, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := bot.Answer{
		ID: "01J00000000000000000000001", GroupID: "g1", Platform: "wechat", ChatID: "group:Family",
		AskerID: "Alice", Created: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Prompt: []bot.Turn{{Role: "user", Content: "hello"}}, Text: "Hi!", Finished: true, Sent: true,
	}
	if err := s.RecordAnswer(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Vote(ctx, a.ID, "wechat", "~小明", 1); err != nil {
		t.Fatal(err)
	}
	s.Close()

	help, _, _ := feedbackCLI(t, "feedback", "forget", "--help")
	if strings.Contains(help, "wechat:wxid") || !strings.Contains(help, "remark name") {
		t.Errorf("forget's help does not show the WeChat id the adapter stores:\n%s", help)
	}

	out, errOut, code := feedbackCLI(t, "feedback", "forget", "--db", path, "--user", "wechat:wxid_abc")
	if code == 0 || !strings.Contains(errOut, "matches nothing") || !strings.Contains(errOut, "remark name") || !strings.Contains(errOut, "~") {
		t.Errorf("an unknown WeChat id: exit %d, stdout %q, stderr %q; want a failure naming WeChat's id forms", code, out, errOut)
	}
	out, errOut, code = feedbackCLI(t, "feedback", "forget", "--db", path, "--user", "discord:123")
	if code == 0 || !strings.Contains(errOut, "Copy User ID") {
		t.Errorf("an unknown Discord id: exit %d, stdout %q, stderr %q; want Discord's id form", code, out, errOut)
	}
	out, errOut, code = feedbackCLI(t, "feedback", "forget", "--db", path, "--user", "wechat:~小明")
	if code != 0 || !strings.Contains(out, "removed 1 votes") {
		t.Errorf("forget by nickname: exit %d, %q %q", code, out, errOut)
	}
	// Alice asked but never voted: known, nothing to remove without --prompts.
	out, errOut, code = feedbackCLI(t, "feedback", "forget", "--db", path, "--user", "wechat:Alice")
	if code != 0 || !strings.Contains(out, "removed 0 votes") {
		t.Errorf("forget an asker's votes: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = feedbackCLI(t, "feedback", "forget", "--db", path, "--user", "wechat:Alice", "--prompts")
	if code != 0 || !strings.Contains(out, "1 answers to their questions") {
		t.Errorf("forget by remark name: exit %d, %q %q", code, out, errOut)
	}
}
