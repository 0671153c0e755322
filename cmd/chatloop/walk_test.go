package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// TestLoopWalk runs the program through the whole loop, as README's tour
// does: chat with votes, regenerations and A/B offers (a tiny model,
// scripted) → reward train → tune (offline, then one online round) →
// chat with the adapter in ab_adapters → feedback stats shows both
// versions with their approval and their A/B record.
func TestLoopWalk(t *testing.T) {
	f := rewardFiles(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "loop.db")
	// The walk's model has flattened logits, as tuneDir's: with the reward
	// files' model a regeneration or an A/B sample now and then repeated
	// the first answer word for word, leaving tune no pair.
	spec := testmodel.Tiny("qwen2", ggml.Q8_0, 3)
	spec.OutputNormScale = 0.1
	f.model = filepath.Join(dir, "walk.gguf")
	if err := testmodel.WriteFile(f.model, spec); err != nil {
		t.Fatal(err)
	}
	config := func(name, extra string) string {
		p := filepath.Join(dir, name)
		cfg := fmt.Sprintf("%s\n[model]\npath = %q\nthreads = 2\nmax_tokens = 8\n[model.sampling]\ntemperature = 1.0\n[feedback]\ndb = %q\n", extra, f.model, db)
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	step := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := chatloop(t, dir, stdin, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		return out
	}

	// 1. Chat: votes and regenerations, then A/B offers of two samples.
	plain := config("plain.toml", "[bot]\nrate_per_minute = 0.0")
	step("Name a fruit.\n/good\n/regen\n/bad\nName a river.\n/bad\n/regen\n/good\n", "--config", plain, "chat")
	ab := config("ab.toml", "[bot]\nrate_per_minute = 0.0\nab_probability = 1.0")
	step("Name a tree.\nA\nName a city.\nB\n", "--config", ab, "chat")

	// 2. A reward head on the backbone (the synthetic question rule).
	rm := filepath.Join(dir, "rm.json")
	step("", "reward", "train", "--model", f.model, "--data", f.train, "--out", rm, "--seed", "1", "--epochs", "10")

	// 3. Tune on the database's pairs, then one online round from there.
	tuned := filepath.Join(dir, "tuned.gguf")
	out := step("", "tune", "--model", f.model, "--db", db, "--out", tuned, "--holdout", "0", "--lr", "1e-3", "--threads", "2")
	if !strings.Contains(out, "wrote "+tuned) {
		t.Fatalf("tune: %s", out)
	}
	out = step("", "tune", "--online", "--model", f.model, "--db", db, "--rm", rm, "--init", tuned, "--samples", "3", "--rounds", "1",
		"--sample-max-tokens", "4", "--holdout", "0.25", "--lr", "1e-3", "--threads", "2", "--out", tuned)
	if !strings.Contains(out, "round 1:") || !strings.Contains(out, "wrote "+tuned) {
		t.Fatalf("tune --online: %s", out)
	}

	// 4. Chat with base and tuned side by side in A/B offers.
	versus := config("versus.toml", fmt.Sprintf("[bot]\nrate_per_minute = 0.0\nab_probability = 1.0\nab_adapters = [\"\", %q]", tuned))
	step("Name a bird.\nA\nName a song.\nB\nName a stone.\nA\n", "--config", versus, "chat")

	// 5. Both versions, their approval and their A/B record.
	js := step("", "--config", plain, "feedback", "stats", "--json")
	var st feedback.Stats
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	if st.Choices != 5 || st.Up != 2 || st.Down != 2 {
		t.Errorf("choices %d, votes %d up %d down, want 5, 2 and 2", st.Choices, st.Up, st.Down)
	}
	var base, tunedV *feedback.VersionStat
	for i, v := range st.Versions {
		if strings.Contains(v.Version, "+tuned-") {
			tunedV = &st.Versions[i]
		} else {
			base = &st.Versions[i]
		}
	}
	if len(st.Versions) != 2 || base == nil || tunedV == nil {
		t.Fatalf("versions: %+v", st.Versions)
	}
	// The base wrote the 4 voted answers, the 4 A/B samples and 3 A/B
	// answers; the tuned version the other 3.
	if base.Answers != 11 || tunedV.Answers != 3 || base.Votes != 4 || base.Low <= 0 || base.High >= 1 {
		t.Errorf("base %+v, tuned %+v", *base, *tunedV)
	}
	if len(tunedV.ABRecord) != 1 || tunedV.ABRecord[0].Against != base.Version || tunedV.ABRecord[0].Choices != 3 ||
		len(base.ABRecord) != 1 || base.ABRecord[0].Wins != tunedV.ABRecord[0].Losses {
		t.Errorf("A/B records: base %+v, tuned %+v", base.ABRecord, tunedV.ABRecord)
	}
	text := step("", "--config", plain, "feedback", "stats")
	for _, want := range []string{"model version", "A/B record", tunedV.Version, base.Version} {
		if !strings.Contains(text, want) {
			t.Errorf("stats lacks %q:\n%s", want, text)
		}
	}
	t.Logf("\n%s", text)
}
