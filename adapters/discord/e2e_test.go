package discord

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
)

// TestEndToEnd runs the real discordgo client inside the adapter, the real
// core with the demo generator, and the real feedback store on a bbolt file,
// against the fake Discord: a mention gets a streamed reply, a 👍 becomes a
// vote in the store and its removal removes it, 🔄 produces a sibling
// answer, a long answer arrives in parts, and the bot answers again after
// its gateway connection is dropped.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run takes several seconds")
	}
	store, votes := openTestStore(t)
	gen := demo.New()
	gen.Delay = 15 * time.Millisecond
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0 // no per-user limit in this test
	core, err := bot.NewCore(bot.Options{Config: cfg, Generator: gen, Store: store, Logger: testLogger(t), MaxTokens: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	coreDone := make(chan error, 1)
	go func() { coreDone <- core.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-coreDone
	})

	f := newFakeDiscord(t)
	f.limitEdits = true // the first edit gets a 429 with Retry-After
	h := startAdapter(t, f, testConfig(f), core)

	// ask posts a question and waits for the bot's complete answer to it:
	// the messages replying to it (and to each other), with the vote
	// controls added under the last one.
	ask := func(u fUser, text string) (string, []fMessage) {
		t.Helper()
		before := len(f.botMessages(fakeChannel))
		q := f.say(userMsg{channel: fakeChannel, author: u, content: mention(text), mentionBot: true})
		var parts []fMessage
		waitFor(t, 15*time.Second, "the answer to "+text[:min(20, len(text))], func() bool {
			parts = answerTo(f, q, before)
			return len(parts) > 0 && len(f.reactionsOn(parts[len(parts)-1].ID)) == 3
		})
		return q, parts
	}

	// finished reads an answer once the core has stored its final text
	// (just after the adapter's Stream returns).
	finished := func(id bot.AnswerID) bot.Answer {
		t.Helper()
		var a bot.Answer
		waitFor(t, 5*time.Second, "answer "+string(id)+" to be finished", func() bool {
			var err error
			a, err = store.Answer(ctx, id)
			return err == nil && a.Finished
		})
		return a
	}

	// A mention gets a streamed reply.
	question := "please tell me about the weather in the mountains today and tomorrow, and whether I should take the high pass or the valley road, and what to pack for the cold nights up there"
	q1, a1 := ask(alice, question)
	if len(a1) != 1 {
		t.Fatalf("short answer came in %d messages", len(a1))
	}
	ans1, err := store.AnswerByMessage(ctx, Platform, bot.MessageID(a1[0].ID))
	if err != nil {
		t.Fatalf("the answer message is not mapped to an answer in the store: %v", err)
	}
	rec1 := finished(ans1)
	// The first answer in the channel carries the group notice; the store
	// keeps the model's text.
	if a1[0].Content != rec1.Text+"\n\n"+bot.DefaultGroupNotice || !strings.HasPrefix(rec1.Text, "[demo") || !strings.HasSuffix(rec1.Text, question) {
		t.Errorf("shown %q; stored %q; want the complete demo echo of the question", a1[0].Content, rec1.Text)
	}
	if edits := f.editsOf(a1[0].ID); len(edits) < 3 {
		t.Errorf("the answer was edited %d times, want several (streamed)", len(edits))
	}
	if a1[0].MessageReference == nil || a1[0].MessageReference.MessageID != q1 {
		t.Errorf("the answer does not reply to the question: %+v", a1[0].MessageReference)
	}

	if got := f.stat(func(f *fakeDiscord) int { return f.limited }); got != 1 {
		t.Errorf("429s served = %d, want 1", got)
	}
	if got := f.stat(func(f *fakeDiscord) int { return f.violations }); got != 0 {
		t.Errorf("%d requests came back before Retry-After passed", got)
	}

	// A reply to the answer, without a mention, continues the conversation
	// along the reply chain.
	before := len(f.botMessages(fakeChannel))
	q2 := f.say(userMsg{channel: fakeChannel, author: alice, content: "and the day after?", replyTo: a1[0].ID})
	var r2 []fMessage
	waitFor(t, 15*time.Second, "the answer to the reply", func() bool {
		r2 = answerTo(f, q2, before)
		return len(r2) > 0 && len(f.reactionsOn(r2[len(r2)-1].ID)) == 3
	})
	id2, err := store.AnswerByMessage(ctx, Platform, bot.MessageID(r2[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	rec := finished(id2)
	wantPrompt := []bot.Turn{
		{Role: bot.RoleSystem, Content: cfg.SystemPrompt},
		{Role: bot.RoleUser, Content: question},
		{Role: bot.RoleAssistant, Content: rec1.Text},
		{Role: bot.RoleUser, Content: "and the day after?"},
	}
	if !slices.EqualFunc(rec.Prompt, wantPrompt, bot.Turn.Equal) {
		t.Errorf("prompt of the reply = %+v\nwant %+v", rec.Prompt, wantPrompt)
	}

	// 👍 on the answer becomes bob's vote; taking it back removes it.
	f.react(bob, fakeChannel, a1[0].ID, emojiUp, true)
	waitFor(t, 5*time.Second, "bob's vote", func() bool { v, ok := votes(ans1, bob.ID); return ok && v == 1 })
	f.react(bob, fakeChannel, a1[0].ID, emojiUp, false)
	waitFor(t, 5*time.Second, "bob's vote to go", func() bool { _, ok := votes(ans1, bob.ID); return !ok })
	f.react(alice, fakeChannel, a1[0].ID, emojiDown, true)
	waitFor(t, 5*time.Second, "alice's down-vote", func() bool { v, ok := votes(ans1, alice.ID); return ok && v == -1 })
	if _, ok := votes(ans1, fakeBotID); ok {
		t.Errorf("the bot's own 👍/👎 controls were counted as a vote")
	}

	// 🔄 produces a sibling answer, posted as a new reply to the question.
	before = len(f.botMessages(fakeChannel))
	f.react(alice, fakeChannel, a1[0].ID, emojiRegen, true)
	var a2 []fMessage
	waitFor(t, 15*time.Second, "the alternative answer", func() bool {
		a2 = answerTo(f, q1, before)
		return len(a2) > 0 && len(f.reactionsOn(a2[len(a2)-1].ID)) == 3
	})
	ans2, err := store.AnswerByMessage(ctx, Platform, bot.MessageID(a2[0].ID))
	if err != nil {
		t.Fatalf("the alternative answer is not in the store: %v", err)
	}
	rec2 := finished(ans2)
	if ans2 == ans1 || rec2.GroupID != rec1.GroupID {
		t.Errorf("alternative %s (group %s) is not a sibling of %s (group %s)", ans2, rec2.GroupID, ans1, rec1.GroupID)
	}
	if a2[0].Content != rec2.Text {
		t.Errorf("alternative shown as %q, stored as %q", a2[0].Content, rec2.Text)
	}

	// An answer longer than 2,000 characters arrives in parts.
	var long strings.Builder
	for i := 0; long.Len() < 2300; i++ {
		fmt.Fprintf(&long, "word%04d ", i)
	}
	longQ := strings.TrimSpace(long.String())
	_, a3 := ask(bob, longQ)
	if len(a3) < 2 {
		t.Fatalf("a %d-character answer came in %d message(s)", len(longQ), len(a3))
	}
	ans3, err := store.AnswerByMessage(ctx, Platform, bot.MessageID(a3[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	rec3 := finished(ans3)
	var joined strings.Builder
	for i, p := range a3 {
		if n := len([]rune(p.Content)); n > messageLimit {
			t.Errorf("part %d is %d characters long", i, n)
		}
		joined.WriteString(p.Content)
		if id, err := store.AnswerByMessage(ctx, Platform, bot.MessageID(p.ID)); err != nil || id != ans3 {
			t.Errorf("part %d maps to %q, %v; want %s", i, id, err, ans3)
		}
	}
	if joined.String() != rec3.Text || !strings.HasSuffix(rec3.Text, longQ) {
		t.Errorf("the parts joined (%d chars) differ from the stored answer (%d chars)", joined.Len(), len(rec3.Text))
	}
	// A vote on the first part counts for the whole answer.
	f.react(alice, fakeChannel, a3[0].ID, emojiUp, true)
	waitFor(t, 5*time.Second, "a vote on the first part", func() bool { v, ok := votes(ans3, alice.ID); return ok && v == 1 })

	// A question deleted by its author cancels its generation: the answer
	// stops growing and is stored as cut short.
	var slow strings.Builder
	for i := 0; i < 120; i++ {
		fmt.Fprintf(&slow, "slow%03d ", i)
	}
	before = len(f.botMessages(fakeChannel))
	q5 := f.say(userMsg{channel: fakeChannel, author: bob, content: mention(slow.String()), mentionBot: true})
	var a5 []fMessage
	waitFor(t, 10*time.Second, "the slow answer to start", func() bool { a5 = answerTo(f, q5, before); return len(a5) == 1 })
	var ans5 bot.AnswerID
	waitFor(t, 5*time.Second, "the slow answer's message to be mapped", func() bool {
		ans5, err = store.AnswerByMessage(ctx, Platform, bot.MessageID(a5[0].ID))
		return err == nil
	})
	f.deleteMessage(fakeChannel, q5)
	rec5 := finished(ans5)
	if !rec5.Truncated || strings.HasSuffix(rec5.Text, strings.TrimSpace(slow.String())) {
		t.Errorf("after its question was deleted the answer was stored as %d chars, truncated=%v; want it cut short", len(rec5.Text), rec5.Truncated)
	}
	if shown, _ := f.message(a5[0].ID); strings.HasSuffix(shown.Content, "slow119") {
		t.Errorf("the answer to the deleted question was completed")
	}

	// The /reset slash command reaches the core and its notice replaces the
	// deferred response.
	f.slash(alice, fakeChannel, "reset", nil)
	waitFor(t, 5*time.Second, "the /reset response", func() bool { return f.stat(func(f *fakeDiscord) int { return len(f.original) }) == 1 })
	f.mu.Lock()
	resetReply := f.original[0]
	f.mu.Unlock()
	if !strings.Contains(resetReply, "cleared") {
		t.Errorf("/reset answered %q", resetReply)
	}

	// The bot survives a dropped connection and answers the next mention.
	f.drop()
	waitFor(t, 10*time.Second, "RESUME", func() bool { return f.stat(func(f *fakeDiscord) int { return f.resumes }) >= 1 })
	_, a4 := ask(alice, "are you still there after the outage")
	if !strings.HasSuffix(a4[len(a4)-1].Content, "are you still there after the outage") {
		t.Errorf("answer after the drop = %q", a4[len(a4)-1].Content)
	}
	if err := h.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// answerTo returns the bot's messages created after the first skip ones
// that answer question q: the first replies to q, each later part to the
// part before it.
func answerTo(f *fakeDiscord, q string, skip int) []fMessage {
	msgs := f.botMessages(fakeChannel)
	if skip > len(msgs) {
		return nil
	}
	var parts []fMessage
	want := q
	for _, m := range msgs[skip:] {
		if m.MessageReference != nil && m.MessageReference.MessageID == want {
			parts = append(parts, m)
			want = m.ID
		}
	}
	return parts
}
