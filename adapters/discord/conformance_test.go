package discord

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestConformance runs the adapters' common suite against the fake
// Discord.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run takes several seconds")
	}
	adaptertest.Run(t, &conformer{f: newFakeDiscord(t)})
}

// conformer drives the adapter through the fake Discord for the suite:
// questions are mentions in one channel, votes reactions.
type conformer struct {
	f *fakeDiscord

	mu     sync.Mutex
	before map[string][]int  // question → bot messages before each answer began
	emoji  map[string]string // user and message → the vote reaction put there
	users  map[string]fUser
}

func (c *conformer) Name() string { return Platform }

func (c *conformer) Start(t *testing.T, h bot.Handler, _ *feedback.Store) {
	c.before, c.emoji = map[string][]int{}, map[string]string{}
	c.users = map[string]fUser{"alice": alice, "bob": bob, "carol": {ID: "600000000000000004", Username: "carol", Discriminator: "0"}}
	startAdapter(t, c.f, testConfig(c.f), h)
}

func (c *conformer) user(t *testing.T, name string) fUser {
	u, ok := c.users[name]
	if !ok {
		t.Fatalf("no user %q", name)
	}
	return u
}

func (c *conformer) UserID(user string) bot.UserID { return bot.UserID(c.users[user].ID) }

func (c *conformer) mark(q string) {
	n := len(c.f.botMessages(fakeChannel))
	c.mu.Lock()
	c.before[q] = append(c.before[q], n)
	c.mu.Unlock()
}

func (c *conformer) Ask(t *testing.T, user, text string) string {
	n := len(c.f.botMessages(fakeChannel))
	q := c.f.say(userMsg{channel: fakeChannel, author: c.user(t, user), content: mention(text), mentionBot: true})
	c.mu.Lock()
	c.before[q] = []int{n}
	c.mu.Unlock()
	return q
}

// Answer waits until the answer's last part carries the vote controls:
// the adapter adds them once the answer is complete.
func (c *conformer) Answer(t *testing.T, q string, n int) []Sent {
	t.Helper()
	c.mu.Lock()
	marks := c.before[q]
	c.mu.Unlock()
	if n >= len(marks) {
		t.Fatalf("answer %d to %s was never asked for", n, q)
	}
	var parts []fMessage
	waitFor(t, 30*time.Second, fmt.Sprintf("answer %d to %s", n, q), func() bool {
		parts = answerTo(c.f, q, marks[n])
		return len(parts) > 0 && len(c.f.reactionsOn(parts[len(parts)-1].ID)) == 3
	})
	out := make([]adaptertest.Sent, len(parts))
	for i, p := range parts {
		out[i] = adaptertest.Sent{ID: p.ID, Text: p.Content}
	}
	return out
}

func (c *conformer) Vote(t *testing.T, user, q string, part adaptertest.Sent, value int) error {
	u := c.user(t, user)
	key := user + "/" + part.ID
	c.mu.Lock()
	prev := c.emoji[key]
	c.mu.Unlock()
	switch value {
	case 0:
		if prev == "" {
			t.Fatalf("%s has no vote on %s to take back", user, part.ID)
		}
		c.f.react(u, fakeChannel, part.ID, prev, false)
		prev = ""
	case 1, -1:
		next := emojiUp
		if value < 0 {
			next = emojiDown
		}
		if prev != "" && prev != next { // a changed mind: the other thumb comes off first
			c.f.react(u, fakeChannel, part.ID, prev, false)
		}
		prev = next
		c.f.react(u, fakeChannel, part.ID, prev, true)
	}
	c.mu.Lock()
	c.emoji[key] = prev
	c.mu.Unlock()
	return nil
}

func (c *conformer) Regen(t *testing.T, user, q string, part adaptertest.Sent) error {
	c.mark(q)
	c.f.react(c.user(t, user), fakeChannel, part.ID, emojiRegen, true)
	return nil
}

func (c *conformer) Delete(t *testing.T, q string) error {
	c.f.deleteMessage(fakeChannel, q)
	return nil
}

func (c *conformer) Fits(text string) bool { return len([]rune(text)) <= messageLimit }

// Sent is the suite's sent message.
type Sent = adaptertest.Sent
