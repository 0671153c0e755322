package discord

import (
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// TestAdapterAccessLists is issue 15's item 10 for Discord: allowed_guilds,
// allowed_channels (a thread counts as its parent channel), blocked_users
// and allow_dms decide which messages and votes reach the core; empty
// lists mean everyone.
func TestAdapterAccessLists(t *testing.T) {
	seen := func(h *scriptHandler, id string) bool { _, ok := h.message(id); return ok }
	settle := func() { time.Sleep(300 * time.Millisecond) } // anything handed on arrives by now

	t.Run("other guild only", func(t *testing.T) {
		f := newFakeDiscord(t)
		h := newScriptHandler()
		cfg := testConfig(f)
		cfg.AllowedGuilds = []string{"800000000000000099"}
		startAdapter(t, f, cfg, h)
		inGuild := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("hi"), mentionBot: true})
		dm := f.say(userMsg{channel: fakeDM, author: alice, content: "hello in private"})
		waitAnswer(t, f, h, bot.MessageID(dm))
		settle()
		if seen(h, inGuild) {
			t.Error("a message from a guild not in allowed_guilds reached the core")
		}
	})

	t.Run("channels, blocked users, no DMs", func(t *testing.T) {
		f := newFakeDiscord(t)
		h := newScriptHandler()
		cfg := testConfig(f)
		cfg.AllowedGuilds = []string{fakeGuildID}
		cfg.AllowedChannels = []string{fakeChannel}
		cfg.BlockedUsers = []string{bob.ID}
		cfg.AllowDMs = false
		startAdapter(t, f, cfg, h)

		q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("rate me"), mentionBot: true})
		msgs := waitAnswer(t, f, h, bot.MessageID(q))
		inThread := f.say(userMsg{channel: fakeThread, author: alice, content: mention("in a thread"), mentionBot: true})
		waitAnswer(t, f, h, bot.MessageID(inThread))
		fromBob := f.say(userMsg{channel: fakeChannel, author: bob, content: mention("me too"), mentionBot: true})
		dm := f.say(userMsg{channel: fakeDM, author: alice, content: "hello in private"})
		waitFor(t, 5*time.Second, "vote controls", func() bool { return len(f.reactionsOn(msgs[0].ID)) == 3 })
		f.react(bob, fakeChannel, msgs[0].ID, emojiUp, true)
		f.react(alice, fakeChannel, msgs[0].ID, emojiDown, true)
		waitFor(t, 5*time.Second, "alice's vote", func() bool { return len(h.reactionsSeen()) >= 1 })
		settle()
		if seen(h, fromBob) {
			t.Error("a blocked user's message reached the core")
		}
		if seen(h, dm) {
			t.Error("a DM reached the core with allow_dms = false")
		}
		for _, x := range h.reactionsSeen() {
			if string(x.UserID) == bob.ID {
				t.Errorf("a blocked user's vote reached the core: %+v", x)
			}
		}
	})
}

func TestAccessConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		key  string
	}{
		{"allowed_guilds", func(c *Config) { c.AllowedGuilds = []string{"my server"} }, "allowed_guilds"},
		{"allowed_channels", func(c *Config) { c.AllowedChannels = []string{""} }, "allowed_channels"},
		{"blocked_users", func(c *Config) { c.BlockedUsers = []string{"@bob"} }, "blocked_users"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Validate = %v, want an error naming %s", tc.name, err, tc.key)
		}
	}
}
