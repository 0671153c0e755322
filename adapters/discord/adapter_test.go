package discord

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/chatloop/chatloop/bot"
)

var (
	alice = fUser{ID: "600000000000000001", Username: "alice", Discriminator: "0"}
	bob   = fUser{ID: "600000000000000002", Username: "bob", GlobalName: "Bob B", Discriminator: "0"}
	robo  = fUser{ID: "600000000000000003", Username: "robo", Discriminator: "0", Bot: true}
)

// scriptHandler stands in for the core in the adapter's own tests: it
// records what the adapter hands it and answers through the Replier the
// way the core does (Typing, then Stream with Sent for every message).
type scriptHandler struct {
	mu        sync.Mutex
	msgs      []bot.Message
	reactions []bot.Reaction
	withdrawn []bot.MessageID
	sent      map[bot.MessageID][]bot.MessageID // question → answer messages
	streamErr map[bot.MessageID]error
	done      map[bot.MessageID]bool
	cancels   map[bot.MessageID]context.CancelFunc
	answers   map[bot.MessageID]bool // every answer message id

	// answer gives the text to stream for a triggered message; "" sends
	// nothing.
	answer func(m bot.Message) string
	delay  time.Duration
	label  string
}

func newScriptHandler() *scriptHandler {
	return &scriptHandler{
		sent: map[bot.MessageID][]bot.MessageID{}, streamErr: map[bot.MessageID]error{},
		done: map[bot.MessageID]bool{}, cancels: map[bot.MessageID]context.CancelFunc{},
		answers: map[bot.MessageID]bool{},
		answer:  func(m bot.Message) string { return "You said: " + m.Text },
		delay:   20 * time.Millisecond,
	}
}

func (h *scriptHandler) HandleMessage(ctx context.Context, m bot.Message, r bot.Replier) {
	h.mu.Lock()
	h.msgs = append(h.msgs, m)
	replyToAnswer := h.answers[m.ReplyTo]
	h.mu.Unlock()
	if m.FromBot || !(m.MentionsBot || m.IsDirect || replyToAnswer) {
		return
	}
	if strings.HasPrefix(m.Text, "/") {
		go func() { _ = r.Send(ctx, "done: "+m.Text) }()
		return
	}
	h.stream(ctx, m.MessageID, h.answer(m), r)
}

func (h *scriptHandler) stream(ctx context.Context, key bot.MessageID, text string, r bot.Replier) {
	if text == "" {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	h.mu.Lock()
	h.cancels[key] = cancel
	delay, label := h.delay, h.label
	h.mu.Unlock()
	go func() {
		defer cancel()
		if t, ok := r.(bot.Typer); ok {
			_ = t.Typing(ctx)
		}
		tokens := make(chan string)
		errc := make(chan error, 1)
		out := bot.Outgoing{AnswerID: bot.AnswerID("ans-" + key), Label: label, Feedback: true, Sent: func(id bot.MessageID) {
			h.mu.Lock()
			h.sent[key] = append(h.sent[key], id)
			h.answers[id] = true
			h.mu.Unlock()
		}}
		go func() { errc <- r.Stream(ctx, out, tokens) }()
	feed:
		for _, w := range strings.SplitAfter(text, " ") {
			select {
			case tokens <- w:
			case <-ctx.Done():
				break feed
			}
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					break feed
				}
			}
		}
		close(tokens)
		err := <-errc
		h.mu.Lock()
		h.streamErr[key] = err
		h.done[key] = true
		h.mu.Unlock()
	}()
}

func (h *scriptHandler) HandleReaction(ctx context.Context, x bot.Reaction, r bot.Replier) {
	h.mu.Lock()
	h.reactions = append(h.reactions, x)
	h.mu.Unlock()
	if x.Kind == bot.ReactionRegen && r != nil && !x.Removed {
		h.stream(ctx, "regen-"+x.MessageID, "Another answer, a different one.", r)
	}
}

func (h *scriptHandler) Withdraw(platform string, chat bot.ChatID, msg bot.MessageID) {
	h.mu.Lock()
	h.withdrawn = append(h.withdrawn, msg)
	cancel := h.cancels[msg]
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (h *scriptHandler) message(id string) (bot.Message, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if string(m.MessageID) == id {
			return m, true
		}
	}
	return bot.Message{}, false
}

func (h *scriptHandler) isDone(id bot.MessageID) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done[id], h.streamErr[id]
}

func (h *scriptHandler) sentFor(id bot.MessageID) []bot.MessageID {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sent[id])
}

func (h *scriptHandler) reactionsSeen() []bot.Reaction {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reactions)
}

// harness runs one adapter against one fake Discord.
type harness struct {
	t    *testing.T
	f    *fakeDiscord
	a    *Adapter
	stop func() error
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testConfig(f *fakeDiscord) Config {
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.APIURL = f.URL()
	cfg.EditInterval = bot.Duration{Duration: 100 * time.Millisecond}
	return cfg
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startAdapter runs an adapter for h against f until the test ends, and
// waits for its first READY. At the end it checks that nothing logged
// (at debug level) holds the token or a raw user id.
func startAdapter(t *testing.T, f *fakeDiscord, cfg Config, h bot.Handler) *harness {
	t.Helper()
	logs := &syncBuffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, h, log, WithToken(fakeToken))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(10 * time.Second):
				runErr = errors.New("Run did not return within 10s of cancellation")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
		out := logs.String()
		for _, secret := range []string{fakeToken, alice.ID, bob.ID} {
			if strings.Contains(out, secret) {
				t.Errorf("the log holds %q:\n%s", secret, out)
			}
		}
	})
	waitFor(t, 5*time.Second, "READY", func() bool { return f.stat(func(f *fakeDiscord) int { return f.readies }) >= 1 })
	return &harness{t: t, f: f, a: a, stop: stop}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mention(text string) string { return "<@" + fakeBotID + "> " + text }

// waitAnswer waits until the handler finished streaming the answer to
// question and returns the answer's messages as the fake holds them.
func waitAnswer(t *testing.T, f *fakeDiscord, h *scriptHandler, question bot.MessageID) []fMessage {
	t.Helper()
	waitFor(t, 10*time.Second, "the answer to "+string(question), func() bool { d, _ := h.isDone(question); return d })
	if _, err := h.isDone(question); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	var out []fMessage
	for _, id := range h.sentFor(question) {
		m, ok := f.message(string(id))
		if !ok && f.stat(func(f *fakeDiscord) int { return btoi(f.deleted[string(id)]) }) == 1 {
			continue // deleted by the test
		}
		if !ok {
			t.Fatalf("answer message %s does not exist", id)
		}
		out = append(out, m)
	}
	return out
}

func TestAdapterMentionStreamsReply(t *testing.T) {
	f := newFakeDiscord(t)
	h := newScriptHandler()
	words := strings.Repeat("stream me slowly please ", 6)
	h.answer = func(m bot.Message) string {
		return "Echo: " + m.Text + " / " + words + "@everyone <@&123> <@" + alice.ID + ">"
	}
	startAdapter(t, f, testConfig(f), h)

	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("hello there"), mentionBot: true})
	msgs := waitAnswer(t, f, h, bot.MessageID(q))

	m, _ := h.message(q)
	if !m.MentionsBot || m.Text != "hello there" || m.IsDirect || m.FromBot || string(m.SenderID) != alice.ID || m.SenderName != "alice" {
		t.Errorf("translated message = %+v, want a mention with text %q from alice", m, "hello there")
	}
	if len(msgs) != 1 {
		t.Fatalf("answer shown as %d messages, want 1", len(msgs))
	}
	want := h.answer(m)
	if msgs[0].Content != want {
		t.Errorf("final text = %q, want %q", msgs[0].Content, want)
	}
	if ref := msgs[0].MessageReference; ref == nil || ref.MessageID != q {
		t.Errorf("answer reference = %+v, want a reply to %s", ref, q)
	}
	if edits := f.editsOf(msgs[0].ID); len(edits) < 3 {
		t.Errorf("answer was edited %d times, want several (streamed)", len(edits))
	} else if edits[len(edits)-1] != want {
		t.Errorf("last edit = %q, want the complete text", edits[len(edits)-1])
	}
	for _, c := range f.createsInto(fakeChannel) {
		if c.AllowedMentions == nil || c.AllowedMentions.Parse == nil || len(c.AllowedMentions.Parse) != 0 || c.AllowedMentions.RepliedUser {
			t.Errorf("message %s sent with allowed_mentions %+v; want parse [] so output pings nobody", c.ID, c.AllowedMentions)
		}
	}
	if got := f.stat(func(f *fakeDiscord) int { return f.typing }); got < 1 {
		t.Errorf("typing indicator posted %d times, want at least 1", got)
	}
	wantR := []string{emojiUp, emojiDown, emojiRegen}
	waitFor(t, 5*time.Second, "vote controls", func() bool { return len(f.reactionsOn(msgs[0].ID)) == len(wantR) })
	if got := f.reactionsOn(msgs[0].ID); !slices.Equal(got, wantR) {
		t.Errorf("reactions under the answer = %q, want %q", got, wantR)
	}
	// The bot's own messages reach the handler marked FromBot.
	waitFor(t, 5*time.Second, "the echo of the bot's answer", func() bool { _, ok := h.message(msgs[0].ID); return ok })
	if echo, _ := h.message(msgs[0].ID); !echo.FromBot {
		t.Errorf("the bot's own message was not marked FromBot: %+v", echo)
	}
	// guilds, guild messages, guild message reactions, direct messages,
	// direct message reactions, message content (Discord's bit numbers).
	wantIntents := 1<<0 | 1<<9 | 1<<10 | 1<<12 | 1<<13 | 1<<15
	if got := f.stat(func(f *fakeDiscord) int { return int(f.intents) }); got != wantIntents {
		t.Errorf("IDENTIFY intents = %b, want %b", got, wantIntents)
	}
}

func TestAdapterLongAnswerSplitsWithoutBreakingCode(t *testing.T) {
	f := newFakeDiscord(t)
	h := newScriptHandler()
	h.delay = 0
	var b strings.Builder
	b.WriteString("Here is the code:\n```go\n")
	for i := 0; b.Len() < 4500; i++ {
		b.WriteString("fmt.Println(\"line number ")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("\")\n")
	}
	b.WriteString("```\nThat was long.")
	long := b.String()
	h.answer = func(bot.Message) string { return long }
	startAdapter(t, f, testConfig(f), h)

	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("code please"), mentionBot: true})
	msgs := waitAnswer(t, f, h, bot.MessageID(q))
	if len(msgs) < 3 {
		t.Fatalf("a %d-character answer came as %d messages, want at least 3", len(long), len(msgs))
	}
	var joined strings.Builder
	for i, m := range msgs {
		if n := len([]rune(m.Content)); n > messageLimit {
			t.Errorf("part %d has %d characters, over %d", i, n, messageLimit)
		}
		if strings.Count(m.Content, "```")%2 != 0 {
			t.Errorf("part %d leaves a code fence open: %q…", i, m.Content[:min(60, len(m.Content))])
		}
		want := q
		if i > 0 {
			want = msgs[i-1].ID
		}
		if m.MessageReference == nil || m.MessageReference.MessageID != want {
			t.Errorf("part %d replies to %+v, want %s", i, m.MessageReference, want)
		}
		c := m.Content
		if i > 0 {
			c = strings.TrimPrefix(c, "```go\n")
		}
		if i < len(msgs)-1 {
			c = strings.TrimSuffix(c, "\n```")
		}
		joined.WriteString(c)
	}
	if joined.String() != long {
		t.Errorf("the parts joined differ from the answer:\n got %q\nwant %q", joined.String(), long)
	}
	waitFor(t, 5*time.Second, "vote controls on the last part", func() bool { return len(f.reactionsOn(msgs[len(msgs)-1].ID)) == 3 })
}

func TestAdapterReactionsBecomeVotes(t *testing.T) {
	f := newFakeDiscord(t)
	h := newScriptHandler()
	startAdapter(t, f, testConfig(f), h)

	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("rate me"), mentionBot: true})
	msgs := waitAnswer(t, f, h, bot.MessageID(q))
	ans := msgs[0].ID
	waitFor(t, 5*time.Second, "vote controls", func() bool { return len(f.reactionsOn(ans)) == 3 })

	f.react(bob, fakeChannel, ans, "👍🏽", true)       // skin tone: still 👍
	f.react(bob, fakeChannel, q, emojiUp, true)      // on the question: not a vote
	f.react(robo, fakeChannel, ans, emojiDown, true) // another bot: never a vote
	f.react(alice, fakeChannel, ans, "🎉", true)      // not one of ours
	f.react(bob, fakeChannel, ans, emojiUp, false)
	f.react(alice, fakeChannel, ans, emojiDown, true)
	waitFor(t, 5*time.Second, "three reactions", func() bool { return len(h.reactionsSeen()) >= 3 })
	time.Sleep(200 * time.Millisecond) // anything else would arrive by now
	want := []bot.Reaction{
		{Platform: Platform, ChatID: fakeChannel, UserID: bot.UserID(bob.ID), Kind: bot.ReactionUp, MessageID: bot.MessageID(ans)},
		{Platform: Platform, ChatID: fakeChannel, UserID: bot.UserID(bob.ID), Kind: bot.ReactionUp, Removed: true, MessageID: bot.MessageID(ans)},
		{Platform: Platform, ChatID: fakeChannel, UserID: bot.UserID(alice.ID), Kind: bot.ReactionDown, MessageID: bot.MessageID(ans)},
	}
	if got := h.reactionsSeen(); !slices.Equal(got, want) {
		t.Errorf("reactions handed to the core:\n got %+v\nwant %+v", got, want)
	}

	// 🔄 asks for another answer, posted as a new reply to the question.
	f.react(bob, fakeChannel, ans, emojiRegen, true)
	alt := waitAnswer(t, f, h, bot.MessageID("regen-"+ans))
	if len(alt) != 1 || alt[0].Content != "Another answer, a different one." {
		t.Fatalf("regenerated answer = %+v", alt)
	}
	if alt[0].ID == ans || alt[0].MessageReference == nil || alt[0].MessageReference.MessageID != q {
		t.Errorf("regenerated answer %s replies to %+v, want a new reply to the question %s", alt[0].ID, alt[0].MessageReference, q)
	}
}

func TestAdapterReplyChainAndThreadHistory(t *testing.T) {
	f := newFakeDiscord(t)
	h := newScriptHandler()
	h.delay = 0
	startAdapter(t, f, testConfig(f), h)

	q1 := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("what is 2+2?"), mentionBot: true})
	a1 := waitAnswer(t, f, h, bot.MessageID(q1))
	// A reply to the answer (no explicit mention: the reply's ping is not one).
	q2 := f.say(userMsg{channel: fakeChannel, author: alice, content: "and times 3?", replyTo: a1[0].ID})
	a2 := waitAnswer(t, f, h, bot.MessageID(q2))
	m2, _ := h.message(q2)
	if m2.MentionsBot || string(m2.ReplyTo) != a1[0].ID {
		t.Errorf("reply translated as %+v, want ReplyTo %s and no mention", m2, a1[0].ID)
	}
	want := []bot.Turn{
		{Role: bot.RoleUser, Content: "what is 2+2?"},
		{Role: bot.RoleAssistant, Content: "You said: what is 2+2?"},
	}
	if !slices.EqualFunc(m2.History, want, bot.Turn.Equal) {
		t.Errorf("history of a reply = %+v, want %+v", m2.History, want)
	}
	// Three levels deep: the chain is fetched through REST beyond the
	// referenced message the event carries.
	q3 := f.say(userMsg{channel: fakeChannel, author: bob, content: mention("and minus <@" + alice.ID + ">?"), mentionBot: true, replyTo: a2[0].ID})
	waitAnswer(t, f, h, bot.MessageID(q3))
	m3, _ := h.message(q3)
	want = append(want, bot.Turn{Role: bot.RoleUser, Content: "and times 3?"}, bot.Turn{Role: bot.RoleAssistant, Content: "You said: and times 3?"})
	if !slices.EqualFunc(m3.History, want, bot.Turn.Equal) {
		t.Errorf("history three levels deep = %+v, want %+v", m3.History, want)
	}

	// A deleted message ends the chain.
	f.deleteMessage(fakeChannel, q2)
	q4 := f.say(userMsg{channel: fakeChannel, author: bob, content: mention("again"), mentionBot: true, replyTo: a2[0].ID})
	waitAnswer(t, f, h, bot.MessageID(q4))
	m4, _ := h.message(q4)
	if want := []bot.Turn{{Role: bot.RoleAssistant, Content: "You said: and times 3?"}}; !slices.EqualFunc(m4.History, want, bot.Turn.Equal) {
		t.Errorf("history past a deleted message = %+v, want %+v", m4.History, want)
	}

	// In a thread, the thread is the context.
	f.say(userMsg{channel: fakeThread, author: alice, content: "first thought"})
	f.say(userMsg{channel: fakeThread, author: bob, content: "second thought"})
	q5 := f.say(userMsg{channel: fakeThread, author: alice, content: mention("sum it up"), mentionBot: true})
	waitAnswer(t, f, h, bot.MessageID(q5))
	m5, _ := h.message(q5)
	if want := []bot.Turn{{Role: bot.RoleUser, Content: "first thought\n\nsecond thought"}}; !slices.EqualFunc(m5.History, want, bot.Turn.Equal) {
		t.Errorf("thread history = %+v, want %+v", m5.History, want)
	}

	// A DM is direct and gets no platform history (the core's session).
	q6 := f.say(userMsg{channel: fakeDM, author: bob, content: "hi in private"})
	waitAnswer(t, f, h, bot.MessageID(q6))
	m6, _ := h.message(q6)
	if !m6.IsDirect || m6.MentionsBot || m6.History != nil || m6.SenderName != "Bob B" {
		t.Errorf("DM translated as %+v", m6)
	}
}

func TestAdapterDeletions(t *testing.T) {
	f := newFakeDiscord(t)
	h := newScriptHandler()
	h.delay = 60 * time.Millisecond
	h.answer = func(bot.Message) string { return strings.Repeat("word ", 40) }
	startAdapter(t, f, testConfig(f), h)

	// The answer message is deleted while streaming: the answer goes on
	// in a new message.
	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("go on"), mentionBot: true})
	waitFor(t, 5*time.Second, "the first part", func() bool { return len(h.sentFor(bot.MessageID(q))) == 1 })
	first := h.sentFor(bot.MessageID(q))[0]
	f.deleteMessage(fakeChannel, string(first))
	msgs := waitAnswer(t, f, h, bot.MessageID(q))
	if len(msgs) != 1 || string(first) == msgs[0].ID {
		t.Fatalf("after deleting the answer message, the answer is in %+v", msgs)
	}
	if want := h.answer(bot.Message{}); msgs[0].Content != want {
		t.Errorf("re-posted answer = %q, want %q", msgs[0].Content, want)
	}

	// The question is deleted by its author: its generation is withdrawn
	// and the stream ends.
	q2 := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("never mind"), mentionBot: true})
	waitFor(t, 5*time.Second, "the answer to start", func() bool { return len(h.sentFor(bot.MessageID(q2))) == 1 })
	f.deleteMessage(fakeChannel, q2)
	waitFor(t, 5*time.Second, "the withdrawal", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Contains(h.withdrawn, bot.MessageID(q2))
	})
	waitFor(t, 5*time.Second, "the stream to end", func() bool { d, _ := h.isDone(bot.MessageID(q2)); return d })
	if _, err := h.isDone(bot.MessageID(q2)); !errors.Is(err, context.Canceled) {
		t.Errorf("Stream after withdrawal returned %v, want context.Canceled", err)
	}
}

func TestAdapterRespectsRateLimits(t *testing.T) {
	f := newFakeDiscord(t)
	f.limitEdits = true
	h := newScriptHandler()
	startAdapter(t, f, testConfig(f), h)
	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("rate limited words come slowly now"), mentionBot: true})
	msgs := waitAnswer(t, f, h, bot.MessageID(q))
	if want := "You said: rate limited words come slowly now"; len(msgs) != 1 || msgs[0].Content != want {
		t.Fatalf("answer = %+v, want %q", msgs, want)
	}
	if got := f.stat(func(f *fakeDiscord) int { return f.limited }); got != 1 {
		t.Errorf("429s served = %d, want 1", got)
	}
	if got := f.stat(func(f *fakeDiscord) int { return f.violations }); got != 0 {
		t.Errorf("requests before Retry-After passed = %d, want 0", got)
	}
}

func TestAdapterRetriesFailedFinalEdit(t *testing.T) {
	f := newFakeDiscord(t)
	f.failEdits = 2
	h := newScriptHandler()
	h.delay = 0
	startAdapter(t, f, testConfig(f), h)
	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("all at once with no delay"), mentionBot: true})
	msgs := waitAnswer(t, f, h, bot.MessageID(q))
	if want := "You said: all at once with no delay"; len(msgs) != 1 || msgs[0].Content != want {
		t.Fatalf("answer = %+v, want %q", msgs, want)
	}
	if got := f.stat(func(f *fakeDiscord) int { return f.failed }); got != 2 {
		t.Errorf("failed edits = %d, want 2", got)
	}
}

func TestAdapterResumesAfterDrop(t *testing.T) {
	f := newFakeDiscord(t)
	h := newScriptHandler()
	h.delay = 0
	startAdapter(t, f, testConfig(f), h)
	waitFor(t, 5*time.Second, "a heartbeat", func() bool { return f.stat(func(f *fakeDiscord) int { return f.heartbeats }) >= 1 })

	f.drop()
	// Sent while the socket is down: replayed on RESUME.
	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("are you back?"), mentionBot: true})
	waitFor(t, 10*time.Second, "RESUME", func() bool { return f.stat(func(f *fakeDiscord) int { return f.resumes }) >= 1 })
	msgs := waitAnswer(t, f, h, bot.MessageID(q))
	if len(msgs) != 1 || msgs[0].Content != "You said: are you back?" {
		t.Errorf("answer after the drop = %+v", msgs)
	}
	if got := f.stat(func(f *fakeDiscord) int { return f.identifies }); got != 1 {
		t.Errorf("IDENTIFY sent %d times, want 1 (the session resumed)", got)
	}
	q2 := f.say(userMsg{channel: fakeChannel, author: bob, content: mention("and now?"), mentionBot: true})
	waitAnswer(t, f, h, bot.MessageID(q2))

	// Op 7 RECONNECT: the client closes and resumes on a new connection.
	f.requestReconnect()
	waitFor(t, 10*time.Second, "a second RESUME", func() bool { return f.stat(func(f *fakeDiscord) int { return f.resumes }) >= 2 })
	q3 := f.say(userMsg{channel: fakeChannel, author: bob, content: mention("after the reconnect"), mentionBot: true})
	waitAnswer(t, f, h, bot.MessageID(q3))
	if got := f.stat(func(f *fakeDiscord) int { return f.identifies }); got != 1 {
		t.Errorf("IDENTIFY sent %d times, want 1", got)
	}
}

func TestAdapterSlashCommands(t *testing.T) {
	f := newFakeDiscord(t)
	h := newScriptHandler()
	startAdapter(t, f, testConfig(f), h)
	waitFor(t, 5*time.Second, "command registration", func() bool { return f.stat(func(f *fakeDiscord) int { return len(f.commands) }) == 3 })
	f.mu.Lock()
	regs := strings.Join([]string{string(f.commands[0]), string(f.commands[1]), string(f.commands[2])}, "\n")
	f.mu.Unlock()
	for _, want := range []string{`"name":"reset"`, `"name":"persona"`, `"name":"sources"`, `"default_member_permissions":"32"`} {
		if !strings.Contains(regs, want) {
			t.Errorf("registered commands lack %s:\n%s", want, regs)
		}
	}

	id := f.slash(alice, fakeChannel, "persona", map[string]string{"text": "You are a pirate."})
	waitFor(t, 5*time.Second, "the command's response", func() bool { return f.stat(func(f *fakeDiscord) int { return len(f.original) }) == 1 })
	m, ok := h.message(id)
	if !ok || m.Text != "/persona You are a pirate." || !m.MentionsBot || string(m.SenderID) != alice.ID {
		t.Errorf("slash command handed over as %+v", m)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(f.callbacks, []int{5}) || !slices.Equal(f.ephemeral, []bool{true}) {
		t.Errorf("interaction callbacks = %v (ephemeral %v), want one deferred (5) ephemeral", f.callbacks, f.ephemeral)
	}
	if f.original[0] != "done: /persona You are a pirate." {
		t.Errorf("command response = %q", f.original[0])
	}
	f.mu.Unlock()
	id = f.slash(alice, fakeChannel, "sources", nil)
	waitFor(t, 5*time.Second, "the second command's response", func() bool { return f.stat(func(f *fakeDiscord) int { return len(f.original) }) == 2 })
	if m, ok := h.message(id); !ok || m.Text != "/sources" {
		t.Errorf("/sources handed over as %+v", m)
	}
	f.mu.Lock()
}

func TestAdapterABLabels(t *testing.T) {
	f := newFakeDiscord(t)
	h := newScriptHandler()
	h.label = "A"
	startAdapter(t, f, testConfig(f), h)
	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("pick"), mentionBot: true})
	msgs := waitAnswer(t, f, h, bot.MessageID(q))
	if !strings.HasPrefix(msgs[0].Content, emojiA+" ") {
		t.Errorf("A answer = %q, want the 🅰️ mark", msgs[0].Content)
	}
	waitFor(t, 5*time.Second, "the choice control", func() bool { return len(f.reactionsOn(msgs[0].ID)) == 1 })
	if got := f.reactionsOn(msgs[0].ID); got[0] != emojiA {
		t.Errorf("controls = %q, want only 🅰️", got)
	}
	f.react(bob, fakeChannel, msgs[0].ID, emojiA, true)
	waitFor(t, 5*time.Second, "the choice", func() bool { return len(h.reactionsSeen()) == 1 })
	if got := h.reactionsSeen()[0]; got.Kind != bot.ReactionChooseA || string(got.UserID) != bob.ID {
		t.Errorf("choice = %+v", got)
	}
}

func TestRunRefusedToken(t *testing.T) {
	f := newFakeDiscord(t)
	a, err := New(testConfig(f), newScriptHandler(), testLogger(t), WithToken("wrong"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = a.Run(ctx)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run with a refused token = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the token: %v", err)
	}
}

func TestRunRefusedIntents(t *testing.T) {
	f := newFakeDiscord(t)
	f.contentIntentOff = true
	a, err := New(testConfig(f), newScriptHandler(), testLogger(t), WithToken(fakeToken))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Run(ctx); !errors.Is(err, ErrIntents) {
		t.Fatalf("Run with the content intent refused = %v, want ErrIntents", err)
	}

	// Without the intent the same server lets the bot in.
	cfg := testConfig(f)
	cfg.MessageContent = false
	h := newScriptHandler()
	startAdapter(t, f, cfg, h)
	q := f.say(userMsg{channel: fakeChannel, author: alice, content: mention("no intent"), mentionBot: true})
	waitAnswer(t, f, h, bot.MessageID(q))
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("  file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(TokenEnv, "")
	cfg := DefaultConfig()
	if _, err := cfg.Token(); !errors.Is(err, ErrNoToken) {
		t.Errorf("no token anywhere: %v, want ErrNoToken", err)
	}
	cfg.TokenFile = tokenFile
	if got, err := cfg.Token(); err != nil || got != "file-token" {
		t.Errorf("token from file = %q, %v", got, err)
	}
	t.Setenv(TokenEnv, "env-token")
	if got, err := cfg.Token(); err != nil || got != "env-token" {
		t.Errorf("token from the environment = %q, %v", got, err)
	}
	cfg.TokenFile = filepath.Join(dir, "missing")
	t.Setenv(TokenEnv, "")
	if _, err := cfg.Token(); err == nil || !strings.Contains(err.Error(), "token_file") {
		t.Errorf("missing token file: %v, want an error naming token_file", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		key  string
	}{
		{"api_url scheme", func(c *Config) { c.APIURL = "ftp://x/" }, "api_url"},
		{"api_url host", func(c *Config) { c.APIURL = "http:///" }, "api_url"},
		{"edit_interval", func(c *Config) { c.EditInterval.Duration = -time.Second }, "edit_interval"},
		{"reply_chain_depth", func(c *Config) { c.ReplyChainDepth = -1 }, "reply_chain_depth"},
		{"edit_interval too long", func(c *Config) { c.EditInterval.Duration = time.Hour }, "edit_interval"},
		{"reply_chain_depth too deep", func(c *Config) { c.ReplyChainDepth = 1 << 40 }, "reply_chain_depth"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Validate = %v, want an error naming %s", tc.name, err, tc.key)
		}
	}
	noContent := DefaultConfig()
	noContent.MessageContent = false
	if noContent.intents()&discordgo.IntentsMessageContent != 0 || DefaultConfig().intents()&discordgo.IntentsMessageContent == 0 {
		t.Errorf("message_content does not switch the privileged intent")
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	if _, err := New(DefaultConfig(), newScriptHandler(), nil); !errors.Is(err, ErrNoToken) {
		t.Errorf("New without a token = %v, want ErrNoToken", err)
	}
}

func TestUseAPIBase(t *testing.T) {
	t.Cleanup(func() { useAPIBase(DefaultAPIURL) })
	useAPIBase("http://127.0.0.1:9/")
	api := "http://127.0.0.1:9/api/v" + discordgo.APIVersion + "/"
	for name, got := range map[string]string{
		"EndpointAPI":          discordgo.EndpointAPI,
		"EndpointGateway":      discordgo.EndpointGateway,
		"EndpointChannels":     discordgo.EndpointChannels,
		"EndpointUsers":        discordgo.EndpointUsers,
		"EndpointWebhooks":     discordgo.EndpointWebhooks,
		"EndpointApplications": discordgo.EndpointApplications,
		"EndpointGuilds":       discordgo.EndpointGuilds,
		"EndpointOAuth2":       discordgo.EndpointOAuth2,
		"channel message":      discordgo.EndpointChannelMessage("1", "2"),
		"reaction":             discordgo.EndpointMessageReaction("1", "2", "e", "@me"),
		"interaction":          discordgo.EndpointInteractionResponse("1", "t"),
		"commands":             discordgo.EndpointApplicationGlobalCommands("1"),
	} {
		if !strings.HasPrefix(got, api) {
			t.Errorf("%s = %q, want it under %q", name, got, api)
		}
	}
	useAPIBase(DefaultAPIURL)
	if want := "https://discord.com/api/v" + discordgo.APIVersion + "/gateway"; discordgo.EndpointGateway != want {
		t.Errorf("after restoring, EndpointGateway = %q, want %q", discordgo.EndpointGateway, want)
	}
}

func TestTranslateHelpers(t *testing.T) {
	for _, tc := range []struct {
		emoji string
		kind  bot.ReactionKind
		ok    bool
	}{
		{"👍", bot.ReactionUp, true}, {"👍🏿", bot.ReactionUp, true}, {"👎", bot.ReactionDown, true},
		{"🔄", bot.ReactionRegen, true}, {"🅰️", bot.ReactionChooseA, true}, {"🅰", bot.ReactionChooseA, true},
		{"🅱️", bot.ReactionChooseB, true}, {"🎉", 0, false}, {"", 0, false},
	} {
		if k, ok := reactionKind(tc.emoji); k != tc.kind || ok != tc.ok {
			t.Errorf("reactionKind(%q) = %v, %v; want %v, %v", tc.emoji, k, ok, tc.kind, tc.ok)
		}
	}
	m := &discordgo.Message{
		Content:  "<@!" + fakeBotID + "> hi <@" + alice.ID + "> and <@" + fakeBotID + ">",
		Mentions: []*discordgo.User{{ID: fakeBotID, Username: "loopbot"}, {ID: alice.ID, Username: "alice"}},
	}
	if text, ok := cleanContent(m, fakeBotID); !ok || text != "hi @alice and" {
		t.Errorf("cleanContent = %q, %v", text, ok)
	}
	if got := stripLabel(labelPrefix("B") + "text"); got != "text" {
		t.Errorf("stripLabel = %q", got)
	}
}

func FuzzTranslate(f *testing.F) {
	f.Add([]byte(`{"id":"1","channel_id":"2","guild_id":"3","author":{"id":"4","username":"a"},"content":"<@` + fakeBotID + `> hi <@5>","mentions":[{"id":"5","username":"b"}],"type":19,"message_reference":{"message_id":"6"},"referenced_message":{"id":"6","author":{"id":"` + fakeBotID + `"},"content":"🅰️ old"}}`))
	f.Add([]byte(`{"id":"1","channel_id":"2","author":{"id":"4","bot":true},"content":"<@!` + fakeBotID + `>","type":0}`))
	f.Add([]byte(`{"author":{},"mentions":[null],"content":"<@<@` + fakeBotID + `>>"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m discordgo.Message
		if json.Unmarshal(data, &m) != nil || m.Author == nil {
			return
		}
		a := &Adapter{}
		msg, _ := a.translate(&m, fakeBotID)
		mentioned := strings.Contains(m.Content, "<@"+fakeBotID+">") || strings.Contains(m.Content, "<@!"+fakeBotID+">")
		if msg.MentionsBot != mentioned {
			t.Errorf("MentionsBot = %v for content %q", msg.MentionsBot, m.Content)
		}
		if msg.Text != strings.TrimSpace(msg.Text) {
			t.Errorf("text %q is not trimmed", msg.Text)
		}
		if msg.IsDirect != (m.GuildID == "") {
			t.Errorf("IsDirect = %v with guild %q", msg.IsDirect, m.GuildID)
		}
		chain := []*discordgo.Message{m.ReferencedMessage, &m}
		for _, turn := range turns(chain, fakeBotID) {
			if strings.TrimSpace(turn.Content) == "" {
				t.Errorf("empty turn %+v", turn)
			}
		}
	})
}

func TestWithoutURL(t *testing.T) {
	err := &url.Error{Op: "Patch", URL: "https://discord.com/api/v9/webhooks/1/secret-interaction-token/messages/@original", Err: io.ErrUnexpectedEOF}
	got := withoutURL(err)
	if strings.Contains(got.Error(), "secret-interaction-token") || !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Errorf("withoutURL = %v", got)
	}
}

func TestIDCache(t *testing.T) {
	c := newIDCache(2)
	c.put("a", "1")
	c.put("b", "2")
	c.put("a", "3") // an update keeps a's place
	c.put("c", "4") // evicts the oldest, a
	if _, ok := c.get("a"); ok {
		t.Errorf("a was not evicted")
	}
	if v, ok := c.get("b"); !ok || v != "2" {
		t.Errorf("b = %q, %v", v, ok)
	}
	c.forget("b")
	if _, ok := c.get("b"); ok {
		t.Errorf("b was not forgotten")
	}
	for i := range 100 {
		k := strings.Repeat("k", i+1)
		c.put(k, "")
		c.forget(k)
	}
	if len(c.m) > 2 || len(c.order) > 4 {
		t.Errorf("cache holds %d entries and %d ids in order after churn; want at most 2 and 4", len(c.m), len(c.order))
	}
}
