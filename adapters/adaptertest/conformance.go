package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
	"github.com/chatloop/chatloop/feedback"
)

// Platform is one adapter started against its own fake platform, driven as
// the people in a chat would drive it. Each adapter's tests implement it
// over their fake server and hand it to Run.
type Platform interface {
	// Name is the platform name the adapter records answers under.
	Name() string
	// Start runs the adapter against the fake platform, handing what
	// happens there to h, until the test ends. st is the store the core
	// records in, for a platform that shows no sign of an answer being
	// complete (WeChat): Answer may wait there for it to be finished.
	Start(t *testing.T, h bot.Handler, st *feedback.Store)
	// Ask has user send text in a way that makes the bot answer (a direct
	// message or a mention) and returns the message's platform id.
	Ask(t *testing.T, user, text string) string
	// Answer waits for the n-th complete answer (0: the first, 1: the
	// one after a regeneration) to question q and returns the messages it
	// was shown as, in order.
	Answer(t *testing.T, q string, n int) []Sent
	// Vote has user vote on the answer shown as part: +1 or -1, or 0 to
	// take a vote back. ErrUnsupported when the platform has no such
	// gesture.
	Vote(t *testing.T, user, q string, part Sent, value int) error
	// Regen has user ask for another answer to q (the answer shown as
	// part).
	Regen(t *testing.T, user, q string, part Sent) error
	// Delete has the asker delete (recall) question q.
	Delete(t *testing.T, q string) error
	// Fits reports whether one platform message may carry text.
	Fits(text string) bool
	// UserID is the id the platform gives user, as votes are recorded.
	UserID(user string) bot.UserID
}

// Sent is one message the bot sent.
type Sent struct {
	ID, Text string
}

// ErrUnsupported is returned by a Platform step the platform cannot do; the
// suite skips what depends on it, saying why.
var ErrUnsupported = errors.New("not supported by this platform")

// Run is the conformance suite every adapter runs against its fake
// platform: a real core with the demo generator and the real feedback
// store, and these steps, each a subtest: trigger, answer, vote, unvote,
// regen, long-answer split, deleted question.
func Run(t *testing.T, p Platform) {
	store := OpenStore(t)
	gen := demo.New()
	gen.Delay = 5 * time.Millisecond
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0
	core, err := bot.NewCore(bot.Options{Config: cfg, Generator: gen, Store: store, MaxTokens: 4000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- core.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	p.Start(t, core, store)

	s := &suite{p: p, store: store}
	const question = "what should I pack for two cold nights in the mountains"
	var q string
	var first []Sent
	var firstID bot.AnswerID
	ok := t.Run("trigger", func(t *testing.T) {
		q = p.Ask(t, "alice", question)
		first = p.Answer(t, q, 0)
		if len(first) == 0 {
			t.Fatal("no answer")
		}
		firstID = s.answerOf(t, first[0])
	})
	if !ok {
		t.Fatal("the bot did not answer; the other steps need an answer")
	}
	t.Run("answer", func(t *testing.T) {
		a := s.finished(t, firstID)
		if !strings.HasPrefix(a.Text, "[demo") || !strings.HasSuffix(a.Text, question) {
			t.Errorf("stored answer %q, want the demo's echo of the question", a.Text)
		}
		s.checkShown(t, firstID, first, a.Text)
		if last := a.Prompt[len(a.Prompt)-1]; last.Role != bot.RoleUser || last.Content != question {
			t.Errorf("the model saw %+v last, want the question", last)
		}
	})
	// The asker votes: on some platforms (WeCom's private chats with an
	// application) nobody else sees the answer.
	voted := t.Run("vote", func(t *testing.T) {
		s.vote(t, "alice", q, first[0], firstID, 1)
		s.vote(t, "alice", q, first[len(first)-1], firstID, -1) // a changed mind replaces the vote
	})
	t.Run("unvote", func(t *testing.T) {
		if !voted {
			t.Skip("no vote to take back")
		}
		s.vote(t, "alice", q, first[len(first)-1], firstID, 0)
	})
	t.Run("regen", func(t *testing.T) {
		if err := p.Regen(t, "alice", q, first[0]); errors.Is(err, ErrUnsupported) {
			t.Skip(err)
		}
		second := p.Answer(t, q, 1)
		id := s.answerOf(t, second[0])
		a, b := s.finished(t, firstID), s.finished(t, id)
		if id == firstID || a.GroupID != b.GroupID {
			t.Errorf("the second answer %s (group %s) is not a sibling of %s (group %s)", id, b.GroupID, firstID, a.GroupID)
		}
		s.checkShown(t, id, second, b.Text)
	})
	t.Run("long answer split", func(t *testing.T) {
		if p.Fits(strings.Repeat("x", 1<<20)) {
			t.Skip("one message carries an answer of any length: nothing to split")
		}
		var long strings.Builder
		for i := 0; p.Fits(long.String()); i++ {
			fmt.Fprintf(&long, "word%04d ", i)
		}
		for i := 0; i < 40; i++ { // well past one message
			fmt.Fprintf(&long, "more%04d ", i)
		}
		text := strings.TrimSpace(long.String())
		lq := p.Ask(t, "bob", text)
		parts := p.Answer(t, lq, 0)
		if len(parts) < 2 {
			t.Fatalf("a %d-character answer came in %d message(s)", len(text), len(parts))
		}
		id := s.answerOf(t, parts[0])
		a := s.finished(t, id)
		if !strings.HasSuffix(a.Text, text) {
			t.Errorf("stored answer of %d characters does not end with the question", len(a.Text))
		}
		s.checkShown(t, id, parts, a.Text)
	})
	t.Run("deleted question", func(t *testing.T) {
		var slow strings.Builder
		for i := 0; i < 400; i++ {
			fmt.Fprintf(&slow, "slow%03d ", i)
		}
		text := strings.TrimSpace(slow.String())
		dq := p.Ask(t, "carol", text)
		var id bot.AnswerID
		waitFor(t, 10*time.Second, "the answer to the slow question to be recorded", func() bool {
			id = s.byQuestion(t, text)
			return id != ""
		})
		if err := p.Delete(t, dq); errors.Is(err, ErrUnsupported) {
			t.Skip(err)
		}
		a := s.finished(t, id)
		if !a.Truncated || strings.HasSuffix(a.Text, text) {
			t.Errorf("after its question was deleted the answer was stored as %d characters, truncated=%v; want it cut short", len(a.Text), a.Truncated)
		}
	})
}

type suite struct {
	p     Platform
	store *feedback.Store
}

// answerOf is the answer a sent message is mapped to in the store.
func (s *suite) answerOf(t *testing.T, m Sent) bot.AnswerID {
	t.Helper()
	var id bot.AnswerID
	waitFor(t, 5*time.Second, "message "+m.ID+" to be mapped to its answer", func() bool {
		var err error
		id, err = s.store.AnswerByMessage(context.Background(), s.p.Name(), bot.MessageID(m.ID))
		return err == nil
	})
	return id
}

// finished reads answer id once the core has stored its final text.
func (s *suite) finished(t *testing.T, id bot.AnswerID) bot.Answer {
	t.Helper()
	var a bot.Answer
	waitFor(t, 15*time.Second, "answer "+string(id)+" to be finished", func() bool {
		var err error
		a, err = s.store.Answer(context.Background(), id)
		return err == nil && a.Finished
	})
	return a
}

// byQuestion finds the answer whose prompt ends with the user turn text.
func (s *suite) byQuestion(t *testing.T, text string) bot.AnswerID {
	for id, row := range Rows(t, s.store) {
		if n := len(row.Prompt); n > 0 && row.Prompt[n-1].Content == text {
			return id
		}
	}
	return ""
}

// checkShown checks that the parts, each fitting one message and each
// mapped to answer id, show the whole stored text in order (the platform
// may add a mention or part markers around them).
func (s *suite) checkShown(t *testing.T, id bot.AnswerID, parts []Sent, stored string) {
	t.Helper()
	rest := squeeze(stored)
	for i, p := range parts {
		if !s.p.Fits(p.Text) {
			t.Errorf("part %d of %d does not fit one message (%d bytes)", i, len(parts), len(p.Text))
		}
		if got := s.answerOf(t, p); got != id {
			t.Errorf("part %d maps to answer %s, want %s", i, got, id)
		}
		shown := squeeze(p.Text)
		n := len(rest)
		for n > 0 && !strings.Contains(shown, rest[:n]) {
			n--
		}
		if n == 0 && rest != "" {
			t.Errorf("part %d (%q) shows none of what remains of the answer (%q)", i, clip(p.Text), clip(rest))
			return
		}
		rest = rest[n:]
	}
	if rest != "" {
		t.Errorf("the parts shown leave out the end of the answer: %q", clip(rest))
	}
}

// vote casts user's vote (0: takes it back) and waits until the store
// holds it.
func (s *suite) vote(t *testing.T, user, q string, part Sent, id bot.AnswerID, value int) {
	t.Helper()
	if err := s.p.Vote(t, user, q, part, value); errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	voter := s.p.UserID(user)
	waitFor(t, 5*time.Second, fmt.Sprintf("%s's vote %+d", user, value), func() bool {
		v, ok := VoteOf(t, s.store, s.p.Name(), id, voter)
		if value == 0 {
			return !ok
		}
		return ok && v == value
	})
}

// squeeze drops white space, which splitting may move or drop.
func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
