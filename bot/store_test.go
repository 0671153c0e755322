package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
	"github.com/chatloop/chatloop/feedback"
)

// openStore opens a real feedback database in a temporary directory.
func openStore(t *testing.T) *feedback.Store { return adaptertest.OpenStore(t) }

// rawRows reads every answer back from the store, votes included.
func rawRows(t *testing.T, s *feedback.Store) map[bot.AnswerID]feedback.RawRow {
	return adaptertest.Rows(t, s)
}

func TestReactionsBecomeVotes(t *testing.T) {
	store := openStore(t)
	c := startCore(t, bot.DefaultConfig(), demo.New(), store)
	m := group("alice", "how are you?")
	m.MentionsBot = true
	r := c.ask(t, m)
	if len(r.ids) != 1 {
		t.Fatalf("got %d answers", len(r.ids))
	}
	id := r.ids[0]
	answer := r.answers[0]
	msg := bot.MessageID("msg-" + string(id))

	react := func(x bot.Reaction) {
		x.Platform, x.ChatID = "test", "g1"
		c.HandleReaction(context.Background(), x, nil)
	}
	react(bot.Reaction{UserID: "bob", Kind: bot.ReactionUp, MessageID: msg})
	react(bot.Reaction{UserID: "carol", Kind: bot.ReactionDown, MessageID: msg})
	react(bot.Reaction{UserID: "self", Kind: bot.ReactionUp, MessageID: msg, FromBot: true})
	if row := rawRows(t, store)[id]; row.Up != 1 || row.Down != 1 {
		t.Fatalf("after 👍 and 👎 (and the bot's own): up %d down %d, want 1 and 1", row.Up, row.Down)
	}
	react(bot.Reaction{UserID: "carol", Kind: bot.ReactionDown, MessageID: msg, Removed: true})
	// Quoted text (shortened, as WeChat does) finds the answer.
	react(bot.Reaction{UserID: "dave", Kind: bot.ReactionUp, QuotedText: answer[:20] + "..."})
	// No message and no quote: the latest answer to that person.
	react(bot.Reaction{UserID: "alice", Kind: bot.ReactionUp})
	// Unknown message: nothing is recorded.
	react(bot.Reaction{UserID: "erin", Kind: bot.ReactionUp, MessageID: "no-such-message"})
	row := rawRows(t, store)[id]
	if row.Up != 3 || row.Down != 0 {
		t.Fatalf("up %d down %d, want 3 (bob, dave, alice) and 0 (carol took hers back)", row.Up, row.Down)
	}
	for _, v := range row.Votes {
		if strings.Contains(v.VoterHash, "bob") || strings.Contains(v.VoterHash, "alice") {
			t.Errorf("a raw user id is stored: %q", v.VoterHash)
		}
	}
}

func TestRegenReactionMakesSibling(t *testing.T) {
	store := openStore(t)
	c := startCore(t, bot.DefaultConfig(), demo.New(), store)
	r := c.ask(t, bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: "tell me a joke", IsDirect: true})
	first := r.ids[0]
	r2 := newRecorder()
	c.HandleReaction(context.Background(), bot.Reaction{Platform: "test", ChatID: "dm", UserID: "u", Kind: bot.ReactionRegen, MessageID: bot.MessageID("msg-" + string(first))}, r2)
	r2.wait(t)
	if len(r2.ids) != 1 || r2.ids[0] == first {
		t.Fatalf("regen gave %v", r2.ids)
	}
	rows := rawRows(t, store)
	a, b := rows[first], rows[r2.ids[0]]
	if a.GroupID == "" || a.GroupID != b.GroupID {
		t.Errorf("regenerated answer is not a sibling: groups %q and %q", a.GroupID, b.GroupID)
	}
	if len(b.Prompt) != len(a.Prompt) || !b.Prompt[len(b.Prompt)-1].Equal(a.Prompt[len(a.Prompt)-1]) {
		t.Errorf("the alternative answered another prompt: %v vs %v", b.Prompt, a.Prompt)
	}
	// The session moved on to the new answer: /good votes on it.
	c.ask(t, bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: "/good", IsDirect: true})
	if rows := rawRows(t, store); rows[r2.ids[0]].Up != 1 || rows[first].Up != 0 {
		t.Errorf("/good after 🔄 voted on the wrong answer")
	}
}

func TestABChoice(t *testing.T) {
	store := openStore(t)
	cfg := bot.DefaultConfig()
	cfg.ABProbability = 1
	c := startCore(t, cfg, demo.New(), store)
	dm := func(text string) bot.Message {
		return bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: text, IsDirect: true}
	}
	r := c.ask(t, dm("pick one"))
	if len(r.ids) != 2 || r.labels[0] != "A" || r.labels[1] != "B" {
		t.Fatalf("A/B answer: ids %v labels %v", r.ids, r.labels)
	}
	a, b := r.ids[0], r.ids[1]
	rows := rawRows(t, store)
	if rows[a].GroupID != rows[b].GroupID || rows[a].Label != "A" || rows[b].Label != "B" {
		t.Fatalf("A/B answers are not labelled siblings: %+v %+v", rows[a], rows[b])
	}
	notices, _ := c.ask(t, dm("/good")).output()
	if len(notices) != 1 || !strings.Contains(notices[0], "A or B") {
		t.Errorf("/good after an A/B answer: %q", notices)
	}
	c.ask(t, dm("b"))
	var picks []feedback.RawPick
	for _, row := range rawRows(t, store) {
		picks = append(picks, row.Choices...)
	}
	if len(picks) == 0 {
		t.Fatal("no choice recorded")
	}
	for _, p := range picks {
		if p.Winner != string(b) || p.Loser != string(a) {
			t.Errorf("choice %+v, want winner %s (B) over %s (A)", p, b, a)
		}
	}
}

func TestPersonaNeedsAdmin(t *testing.T) {
	cfg := bot.DefaultConfig()
	cfg.Admins = []string{"test:boss"}
	c := startCore(t, cfg, demo.New(), nil)
	say := func(user, text string) []string {
		m := group(user, text)
		m.MentionsBot = true
		notices, _ := c.ask(t, m).output()
		return notices
	}
	if n := say("alice", "/persona You are a pirate."); len(n) != 1 || !strings.Contains(n[0], "Only admins") {
		t.Fatalf("non-admin persona: %q", n)
	}
	if n := say("boss", "/persona You are a pirate."); len(n) != 1 || !strings.Contains(n[0], "updated") {
		t.Fatalf("admin persona: %q", n)
	}
	say("alice", "ahoy?")
	if p := c.gen.last(); p[0].Content != "You are a pirate." {
		t.Errorf("system prompt after /persona = %q", p[0].Content)
	}
	say("boss", "/persona reset")
	say("alice", "hello?")
	if p := c.gen.last(); p[0].Content != cfg.SystemPrompt {
		t.Errorf("system prompt after reset = %q", p[0].Content)
	}
}
