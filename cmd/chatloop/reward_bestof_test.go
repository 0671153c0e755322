package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/adapters/console"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/reward"
	"github.com/chatloop/chatloop/feedback/reward/synth"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// bestOfSampling keeps the tiny model's answers short and varied.
var bestOfSampling = bot.Sampling{Temperature: 1, TopK: 40}

const bestOfMaxTokens = 2

// selfPreferences samples answers of e to prompts and pairs those that
// follow synth.VowelRule (chosen) with those that break it (rejected):
// votes a user holding the rule would cast on the model's own answers.
func selfPreferences(t *testing.T, e *model.Engine, prompts [][]reward.Message, samples int) []reward.Pair {
	t.Helper()
	var pairs []reward.Pair
	for i, p := range prompts {
		var good, bad []string
		for s := range samples {
			res, err := e.Generate(context.Background(), model.Request{
				Messages:  []model.Message{{Role: p[0].Role, Content: p[0].Content}},
				MaxTokens: bestOfMaxTokens,
				Sampling:  model.SamplingParams{Temperature: bestOfSampling.Temperature, TopK: bestOfSampling.TopK, Seed: uint64(1000 + samples*i + s)},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if synth.HasVowel(res.Text) {
				good = append(good, res.Text)
			} else if res.Text != "" {
				bad = append(bad, res.Text)
			}
		}
		for k := range min(len(good), len(bad), 3) {
			pairs = append(pairs, reward.Pair{Prompt: p, Chosen: good[k], Rejected: bad[k]})
		}
	}
	return pairs
}

// bestOfRate runs the terminal chat's core (console adapter, local
// generator, feedback store) over prompts with best_of = n and returns how
// many sent answers follow the rule, checking what the store recorded.
func bestOfRate(t *testing.T, a *app, e *model.Engine, scorer bot.Scorer, n int, prompts [][]reward.Message) int {
	t.Helper()
	cfg := defaultConfig()
	store, err := feedback.Open(filepath.Join(t.TempDir(), "feedback.db"), feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	botCfg := cfg.Bot // as chat does: the terminal's user is not rate limited
	botCfg.Admins = append(botCfg.Admins, console.Platform+":local")
	botCfg.RatePerMinute = 0
	core, err := bot.NewCore(bot.Options{
		Config: botCfg, Generator: newLocalGenerator(e, nil, false), Store: store, Counter: e, Logger: a.logger(),
		Sampling: bestOfSampling, MaxTokens: bestOfMaxTokens, BestOf: n, Scorer: scorer,
		Rand: rand.New(rand.NewPCG(77, 77)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = core.Run(ctx) }()
	defer func() { cancel(); <-done }()
	con := console.New(core, nil, io.Discard, console.Options{User: "local"})
	for _, p := range prompts {
		if err := con.Ask(ctx, p[0].Content); err != nil {
			t.Fatal(err)
		}
		if err := con.Ask(ctx, "/reset"); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := store.Export(ctx, &buf, feedback.ExportOptions{Format: feedback.FormatRaw, IncludeDemo: true}); err != nil {
		t.Fatal(err)
	}
	type group struct {
		rows []feedback.RawRow
	}
	groups := map[string]*group{}
	var order []string
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var r feedback.RawRow
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		g := groups[r.GroupID]
		if g == nil {
			g = &group{}
			groups[r.GroupID] = g
			order = append(order, r.GroupID)
		}
		g.rows = append(g.rows, r)
	}
	if len(groups) != len(prompts) {
		t.Fatalf("best of %d: %d answer groups recorded for %d prompts", n, len(groups), len(prompts))
	}
	follows := 0
	for _, id := range order {
		g := groups[id]
		var sent *feedback.RawRow
		for i := range g.rows {
			if g.rows[i].Sent {
				if sent != nil {
					t.Fatalf("best of %d: two sent answers in group %s", n, id)
				}
				sent = &g.rows[i]
			}
		}
		if sent == nil {
			t.Fatalf("best of %d: no sent answer in group %s", n, id)
		}
		if n > 1 {
			// The n candidates are siblings with their scores; the sent
			// one has the highest.
			if len(g.rows) != n {
				t.Fatalf("best of %d: %d candidates recorded", n, len(g.rows))
			}
			for _, r := range g.rows {
				if r.Score == nil || *r.Score > *sent.Score {
					t.Fatalf("best of %d: candidate %q score %v above the sent one's %v", n, r.Text, r.Score, *sent.Score)
				}
			}
		}
		if synth.HasVowel(sent.Text) {
			follows++
		}
	}
	return follows
}

// TestRewardBestOfN: a head trained on the tiny model's own answers, with
// the rule as the voter, makes best-of-4 in the chat core send answers that
// follow the rule more often than best-of-1 does, over the same prompts.
func TestRewardBestOfN(t *testing.T) {
	if testing.Short() {
		t.Skip("samples a few hundred answers")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "backbone.gguf")
	if err := testmodel.WriteFile(path, testmodel.Tiny("qwen2", ggml.Q8_0, 3)); err != nil {
		t.Fatal(err)
	}
	e, err := model.Load(path, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	a := &app{stdout: io.Discard, stderr: io.Discard}
	a.log = nil

	pairs := selfPreferences(t, e, synth.Prompts(40, 20), 8)
	if len(pairs) < 40 {
		t.Fatalf("only %d preference pairs from the model's own answers", len(pairs))
	}
	f, err := newEngineFeaturizer(e)
	if err != nil {
		t.Fatal(err)
	}
	set, err := reward.Featurize(context.Background(), reward.Dataset{Pairs: pairs}, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, rep, err := reward.Train(context.Background(), set, f.Backbone(), reward.TrainOptions{Seed: 1, Epochs: 100, HeldOut: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	rm := filepath.Join(dir, "rm.json")
	if err := head.Save(rm); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Reward.Path, cfg.Reward.BestOf = rm, 4
	scorer, err := a.openScorer(&cfg, e)
	if err != nil || scorer == nil {
		t.Fatalf("openScorer: %v, %v", scorer, err)
	}

	prompts := synth.Prompts(30, 30)
	one := bestOfRate(t, a, e, scorer, 1, prompts)
	four := bestOfRate(t, a, e, scorer, 4, prompts)
	t.Logf("rule %q: %d self-labelled pairs, held-out accuracy %.3f; sent answers following it: best of 1 %d/%d, best of 4 %d/%d",
		synth.VowelRule, len(pairs), rep.HeldOutAccuracy, one, len(prompts), four, len(prompts))
	if four <= one {
		t.Fatalf("best of 4 sent %d rule-following answers, best of 1 %d", four, one)
	}
}

func TestOpenScorer(t *testing.T) {
	a := &app{stdout: io.Discard, stderr: io.Discard}
	cfg := defaultConfig()
	s, err := a.openScorer(&cfg, nil)
	if err != nil || s != nil {
		t.Fatalf("no [reward] path: %v, %v; want nil, nil", s, err)
	}
	cfg.Reward.Path = filepath.Join(t.TempDir(), "rm.json")
	if _, err := a.openScorer(&cfg, nil); err == nil {
		t.Fatal("a reward path without a local engine is accepted")
	}
}
