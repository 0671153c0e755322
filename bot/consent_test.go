package bot_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
	"github.com/chatloop/chatloop/feedback"
)

// runCore starts a core on store and returns it with a function that
// stops it.
func runCore(t *testing.T, cfg bot.Config, store bot.FeedbackStore) (testCore, func()) {
	t.Helper()
	pl := &promptLog{Generator: demo.New()}
	c, err := bot.NewCore(bot.Options{Config: cfg, Generator: pl, Store: store, MaxTokens: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return testCore{c, pl}, stop
}

func groupIn(chat, user, text string) bot.Message {
	return bot.Message{Platform: "test", ChatID: bot.ChatID(chat), SenderID: bot.UserID(user), Text: text, MentionsBot: true}
}

func TestGroupNoticeOncePerGroup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "feedback.db")
	store, err := feedback.Open(path, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := bot.DefaultConfig()
	c, stop := runCore(t, cfg, store)

	first := c.ask(t, groupIn("g1", "alice", "hello there"))
	if len(first.answers) != 1 || !strings.HasSuffix(first.answers[0], "\n\n"+bot.DefaultGroupNotice) {
		t.Fatalf("first answer in the group: %q, want it to end with the notice", first.answers)
	}
	row := rawRows(t, store)[first.ids[0]]
	if row.Text == "" || strings.Contains(row.Text, "/optout") {
		t.Errorf("stored text %q: want the model's words without the notice", row.Text)
	}
	if !strings.HasPrefix(first.answers[0], row.Text) {
		t.Errorf("sent %q does not start with the stored answer %q", first.answers[0], row.Text)
	}
	second := c.ask(t, groupIn("g1", "bob", "and again"))
	if len(second.answers) != 1 || strings.Contains(second.answers[0], "/optout") {
		t.Errorf("second answer in the group carries the notice: %q", second.answers)
	}
	dm := c.ask(t, bot.Message{Platform: "test", ChatID: "dm", SenderID: "alice", Text: "hi", IsDirect: true})
	if len(dm.answers) != 1 || strings.Contains(dm.answers[0], "/optout") {
		t.Errorf("a direct chat got the group notice: %q", dm.answers)
	}
	zh := c.ask(t, groupIn("g-zh", "li", "你好，今天怎么样？"))
	if len(zh.answers) != 1 || !strings.Contains(zh.answers[0], "/退出") {
		t.Errorf("first answer in a Chinese group: %q, want the Chinese notice", zh.answers)
	}

	// After a restart the store still knows g1 was told.
	stop()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store, err = feedback.Open(path, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c, _ = runCore(t, cfg, store)
	again := c.ask(t, groupIn("g1", "carol", "anyone home?"))
	if len(again.answers) != 1 || strings.Contains(again.answers[0], "/optout") {
		t.Errorf("after reopening the store, g1 was told again: %q", again.answers)
	}
	other := c.ask(t, groupIn("g2", "carol", "anyone home?"))
	if len(other.answers) != 1 || !strings.HasSuffix(other.answers[0], bot.DefaultGroupNotice) {
		t.Errorf("first answer in g2: %q, want the notice", other.answers)
	}

	// "" turns the notice off.
	cfg.GroupNotice = ""
	c, _ = runCore(t, cfg, store)
	off := c.ask(t, groupIn("g3", "dave", "hello"))
	if len(off.answers) != 1 || strings.Contains(off.answers[0], "/optout") {
		t.Errorf("group_notice \"\" still sent it: %q", off.answers)
	}
}

func TestOptOutAndIn(t *testing.T) {
	store := openStore(t)
	cfg := bot.DefaultConfig()
	cfg.GroupNotice = ""
	c, _ := runCore(t, cfg, store)
	react := func(user string, id bot.AnswerID) {
		c.HandleReaction(context.Background(), bot.Reaction{Platform: "test", ChatID: "g1", UserID: bot.UserID(user), Kind: bot.ReactionUp, MessageID: bot.MessageID("msg-" + string(id))}, nil)
	}

	before := c.ask(t, groupIn("g1", "alice", "what is two plus two?")).ids[0]
	react("alice", before)
	react("bob", before)
	if row := rawRows(t, store)[before]; row.Up != 2 {
		t.Fatalf("up %d before the opt-out, want 2", row.Up)
	}

	out := c.ask(t, groupIn("g1", "alice", "/optout"))
	if len(out.notices) != 1 || !strings.Contains(out.notices[0], "opted out") || !strings.Contains(out.notices[0], "1 of your votes") {
		t.Errorf("/optout replied %q", out.notices)
	}
	rows := rawRows(t, store)
	if row, ok := rows[before]; !ok || row.Up != 1 {
		t.Errorf("after /optout: answer kept %v, up %d; want the answer kept with bob's vote only", ok, row.Up)
	}

	later := c.ask(t, groupIn("g1", "alice", "and three plus three?"))
	if len(later.answers) != 1 {
		t.Fatalf("no answer after opting out: %+v", later.answers)
	}
	if _, ok := rawRows(t, store)[later.ids[0]]; ok {
		t.Error("an answer to someone who opted out was recorded")
	}
	react("alice", before)
	if row := rawRows(t, store)[before]; row.Up != 1 {
		t.Errorf("a vote by someone who opted out was recorded: up %d", row.Up)
	}
	if n := c.ask(t, groupIn("g1", "alice", "/good")).notices; len(n) != 1 || !strings.Contains(n[0], "opted out") {
		t.Errorf("/good after opting out replied %q", n)
	}
	// Bob did not opt out: his questions are still recorded.
	bobs := c.ask(t, groupIn("g1", "bob", "and four?")).ids[0]
	if _, ok := rawRows(t, store)[bobs]; !ok {
		t.Error("someone else's answer was not recorded")
	}

	zh := c.ask(t, groupIn("g1", "li", "/退出"))
	if len(zh.notices) != 1 || !strings.Contains(zh.notices[0], "已退出") {
		t.Errorf("/退出 replied %q", zh.notices)
	}

	in := c.ask(t, groupIn("g1", "alice", "/optin"))
	if len(in.notices) != 1 || !strings.Contains(in.notices[0], "opted in") {
		t.Errorf("/optin replied %q", in.notices)
	}
	after := c.ask(t, groupIn("g1", "alice", "and five plus five?")).ids[0]
	if _, ok := rawRows(t, store)[after]; !ok {
		t.Error("after /optin the answer was not recorded")
	}
	react("alice", after)
	if row := rawRows(t, store)[after]; row.Up != 1 {
		t.Errorf("after /optin the vote was not recorded: up %d", row.Up)
	}
}

// An adapter that reads the history back from the platform sees the
// notice under the bot's first answer; the model must not.
func TestGroupNoticeNotInPlatformHistory(t *testing.T) {
	store := openStore(t)
	c, _ := runCore(t, bot.DefaultConfig(), store)
	m := groupIn("g1", "alice", "and then?")
	m.History = []bot.Turn{
		{Role: bot.RoleUser, Content: "hello"},
		{Role: bot.RoleAssistant, Content: "hi there\n\n" + bot.DefaultGroupNotice},
	}
	c.ask(t, m)
	prompt := c.gen.last()
	var assistant []string
	for _, turn := range prompt {
		if turn.Role == bot.RoleAssistant {
			assistant = append(assistant, turn.Content)
		}
	}
	if len(assistant) != 1 || assistant[0] != "hi there" {
		t.Errorf("assistant turns the model saw: %q, want [\"hi there\"]", assistant)
	}
	if m.History[1].Content != "hi there\n\n"+bot.DefaultGroupNotice {
		t.Error("the adapter's history was changed in place")
	}
}

type lengthScorer struct{}

func (lengthScorer) Score(_ context.Context, _ []bot.Turn, answer string) (float64, error) {
	return float64(len(answer)), nil
}

// Best-of-n keeps no candidate of someone who opted out, and its answer
// carries the group notice like any other.
func TestBestOfHonoursConsent(t *testing.T) {
	store := openStore(t)
	var logs strings.Builder
	var mu sync.Mutex
	c, err := bot.NewCore(bot.Options{Config: bot.DefaultConfig(), Generator: demo.New(), Store: store, MaxTokens: 1000,
		Scorer: lengthScorer{}, BestOf: 3, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	tc := testCore{Core: c}

	first := tc.ask(t, groupIn("g1", "alice", "hello"))
	if len(first.answers) != 1 || !strings.HasSuffix(first.answers[0], "\n\n"+bot.DefaultGroupNotice) {
		t.Errorf("best-of answer in a new group: %q, want the notice", first.answers)
	}
	if n := len(rawRows(t, store)); n != 3 {
		t.Errorf("%d candidates stored, want 3", n)
	}
	tc.ask(t, groupIn("g1", "alice", "/optout"))
	later := tc.ask(t, groupIn("g1", "alice", "hello again"))
	if len(later.answers) != 1 || strings.Contains(later.answers[0], "/optout") {
		t.Errorf("best-of answer after opting out: %q", later.answers)
	}
	if n := len(rawRows(t, store)); n != 3 {
		t.Errorf("%d candidates stored after the opt-out, want still 3", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
