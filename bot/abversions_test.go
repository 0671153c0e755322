package bot_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// versionGen answers as the version a request chooses, naming it in the
// text and in the model info; it fails the test when an A/B offer's
// answers see different prompts.
type versionGen struct{}

func (versionGen) Generate(_ context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	name := "default"
	if req.Version != nil {
		name = "base"
		if !req.Version.Base() {
			name = req.Version.Adapter
		}
	}
	text := fmt.Sprintf("%s says hi to %q", name, req.Messages[len(req.Messages)-1].Content)
	onToken(text)
	return bot.Result{Text: text, Model: bot.ModelInfo{Backend: "local", Name: "tiny+" + name}}, nil
}

// TestABBetweenVersions: with ab_adapters every A/B offer shows one answer
// of each of two listed versions, in both orders over many offers, both
// to the same prompt; the choice counts for the versions in stats.
func TestABBetweenVersions(t *testing.T) {
	store := openStore(t)
	cfg := bot.DefaultConfig()
	cfg.ABProbability = 1
	cfg.ABAdapters = []string{"", "tuned.gguf"}
	cfg.RatePerMinute = 0 // not rate limited
	c := startCore(t, cfg, versionGen{}, store)
	dm := func(text string) bot.Message {
		return bot.Message{Platform: "test", ChatID: "dm", SenderID: "u", Text: text, IsDirect: true}
	}
	orders := map[string]int{}
	tunedWins := 0
	for i := range 24 {
		r := c.ask(t, dm(fmt.Sprintf("question %d", i)))
		if len(r.ids) != 2 || r.labels[0] != "A" || r.labels[1] != "B" {
			t.Fatalf("offer %d: ids %v labels %v", i, r.ids, r.labels)
		}
		rows := rawRows(t, store)
		a, b := rows[r.ids[0]], rows[r.ids[1]]
		if !slices.Equal(a.Prompt, b.Prompt) || a.GroupID != b.GroupID {
			t.Fatalf("offer %d: the two answers saw different prompts or groups: %v / %v", i, a.Prompt, b.Prompt)
		}
		names := a.Model.Name + " vs " + b.Model.Name
		orders[names]++
		// Choose the tuned answer every time but every fourth.
		pickA := a.Model.Name == "tiny+tuned.gguf"
		if i%4 == 3 {
			pickA = !pickA
		} else {
			tunedWins++
		}
		choice := "B"
		if pickA {
			choice = "A"
		}
		c.ask(t, dm(choice))
	}
	if len(orders) != 2 || orders["tiny+base vs tiny+tuned.gguf"] == 0 || orders["tiny+tuned.gguf vs tiny+base"] == 0 {
		t.Errorf("orders of the versions over 24 offers: %v, want both orders", orders)
	}
	st, err := store.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range st.Versions {
		if v.Version != "tiny+tuned.gguf" {
			continue
		}
		found = true
		want := feedback.ABCount{Against: "tiny+base", Wins: tunedWins, Losses: 24 - tunedWins}
		if len(v.ABRecord) != 1 || v.ABRecord[0].ABCount != want {
			t.Errorf("tuned's A/B record: %+v, want %+v", v.ABRecord, want)
		}
	}
	if !found {
		t.Errorf("no tuned version in stats: %+v", st.Versions)
	}
	// Without an A/B offer the generator's default version answers.
	cfg.ABProbability = 0
	c2 := startCore(t, cfg, versionGen{}, store)
	if r := c2.ask(t, dm("plain")); len(r.answers) != 1 || r.answers[0] != `default says hi to "plain"` {
		t.Errorf("plain answer: %q", r.answers)
	}
}

func TestABAdaptersValidate(t *testing.T) {
	for _, ab := range [][]string{{"tuned.gguf"}, {"", ""}, {"a.gguf", "b.gguf", "a.gguf"}} {
		cfg := bot.DefaultConfig()
		cfg.ABAdapters = ab
		if err := cfg.Validate(); err == nil {
			t.Errorf("ab_adapters %q accepted", ab)
		}
	}
	cfg := bot.DefaultConfig()
	cfg.ABAdapters = []string{"", "a.gguf", "b.gguf"}
	if err := cfg.Validate(); err != nil {
		t.Errorf("three versions refused: %v", err)
	}
}
