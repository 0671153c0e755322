package wechat

import (
	"strings"
	"testing"
	"time"
)

// TestAccessLists is issue 15's item 10 for WeChat: allowed_groups (group
// names) and blocked_users (the ids the adapter stores: remark name or
// ~nickname) decide which messages and votes reach the core; empty lists
// mean everyone.
func TestAccessLists(t *testing.T) {
	run := func(t *testing.T, edit func(*Config)) (*fakeWeChat, *recorder) {
		f := newFakeWeChat(t)
		cfg := testConfig(t.TempDir())
		edit(&cfg)
		h := &recorder{}
		r := startAdapter(t, f, cfg, h)
		qrLogin(t, f, r, 1, 1)
		return f, h
	}
	senders := func(h *recorder) []string {
		h.mu.Lock()
		defer h.mu.Unlock()
		var out []string
		for _, m := range h.messages {
			out = append(out, string(m.SenderID)+" in "+string(m.ChatID))
		}
		for _, x := range h.reactions {
			out = append(out, "vote by "+string(x.UserID))
		}
		return out
	}
	settled := func(t *testing.T, h *recorder, n int) []string {
		t.Helper()
		waitFor(t, "the allowed messages", 5*time.Second, func() bool { m, x := h.counts(); return m+x >= n })
		time.Sleep(300 * time.Millisecond) // anything else would arrive by now
		return senders(h)
	}

	t.Run("another group only, Carol blocked", func(t *testing.T) {
		f, h := run(t, func(c *Config) {
			c.AllowedGroups = []string{"Other Group"}
			c.BlockedUsers = []string{"~Carol"}
		})
		f.push(f.groupText("@bob01", "@小助手\u2005hello from the group"))
		f.push(f.text("@carol01", "hello, I am blocked"))
		f.push(f.text("@carol01", "[强]"))
		f.push(f.text("@alice01", "hello from alice"))
		got := settled(t, h, 1)
		if len(got) != 1 || !strings.HasPrefix(got[0], "alice-remark in ") {
			t.Errorf("handed to the core: %q, want only alice's private message", got)
		}
	})

	t.Run("the test group, alice blocked", func(t *testing.T) {
		f, h := run(t, func(c *Config) {
			c.AllowedGroups = []string{"Test Group"}
			c.BlockedUsers = []string{"alice-remark"}
		})
		f.push(f.groupText("@alice01", "@小助手\u2005alice asks in the group"))
		f.push(f.text("@alice01", "alice asks in private"))
		f.push(f.groupText("@bob01", "@小助手\u2005bob asks"))
		got := settled(t, h, 1)
		if len(got) != 1 || got[0] != "~Bob in group:Test Group" {
			t.Errorf("handed to the core: %q, want only bob's group message", got)
		}
	})
}

func TestAccessConfig(t *testing.T) {
	c := DefaultConfig()
	c.AllowedGroups = []string{" "}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "allowed_groups") {
		t.Errorf("a blank group name: %v, want an error naming allowed_groups", err)
	}
	c = DefaultConfig()
	c.BlockedUsers = []string{""}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "blocked_users") {
		t.Errorf("a blank user: %v, want an error naming blocked_users", err)
	}
}
