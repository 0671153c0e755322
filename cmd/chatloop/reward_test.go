package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/reward"
	"github.com/chatloop/chatloop/feedback/reward/synth"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// rewardData holds the files of a reward test.
type rewardData struct {
	model, otherModel  string
	train, test, noise string
}

// rewardFiles writes two tiny backbones (qwen2, hidden 64, 2 layers,
// random weights, the real Qwen2.5 vocabulary) and the synthetic sets of
// scripts/reward-synth: 400 training pairs, 200 test pairs from another
// seed, and the 400 training pairs with shuffled labels.
func rewardFiles(t *testing.T) rewardData {
	t.Helper()
	dir := t.TempDir()
	f := rewardData{model: filepath.Join(dir, "backbone.gguf"), otherModel: filepath.Join(dir, "other.gguf")}
	if err := testmodel.WriteFile(f.model, testmodel.Tiny("qwen2", ggml.Q8_0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := testmodel.WriteFile(f.otherModel, testmodel.Tiny("qwen2", ggml.Q8_0, 4)); err != nil {
		t.Fatal(err)
	}
	write := func(name string, pairs []reward.Pair) string {
		p := filepath.Join(dir, name)
		fh, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := synth.WriteJSONL(fh, pairs); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.train = write("train.jsonl", synth.Pairs(400, 1, false))
	f.test = write("test.jsonl", synth.Pairs(200, 2, false))
	f.noise = write("shuffled.jsonl", synth.Pairs(400, 1, true))
	return f
}

func sha256Hex(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:]), nil
}

func readHead(t *testing.T, path string) *reward.Head {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := reward.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func evalJSON(t *testing.T, dir string, args ...string) evalResult {
	t.Helper()
	out, errOut, code := chatloop(t, dir, "", append([]string{"reward", "eval", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("reward eval exited %d: %s", code, errOut)
	}
	var res evalResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("reward eval --json printed %q: %v", out, err)
	}
	if res.Accuracy == nil || res.AUC == nil {
		t.Fatalf("reward eval --json printed %q", out)
	}
	return res
}

// TestRewardSyntheticProof is the proof: on the synthetic set, a
// head over the tiny backbone reaches held-out pair accuracy ≥ 0.9 and
// the same accuracy on fresh pairs, while the same training on shuffled
// labels stays near 0.5.
func TestRewardSyntheticProof(t *testing.T) {
	f := rewardFiles(t)
	dir := t.TempDir()
	rm := filepath.Join(dir, "rm.json")
	out, errOut, code := chatloop(t, dir, "", "reward", "train", "--model", f.model, "--data", f.train, "--out", rm, "--seed", "1", "--epochs", "60")
	if code != 0 {
		t.Fatalf("reward train exited %d: %s", code, errOut)
	}
	if !strings.Contains(out, "400 preference pairs") || !strings.Contains(out, "epoch   1/60  train loss") || !strings.Contains(out, "held-out accuracy") {
		t.Fatalf("reward train printed:\n%s", out)
	}
	if !strings.Contains(errOut, "features") || !strings.Contains(errOut, "0 from the cache, 800 computed") {
		t.Fatalf("reward train's stderr:\n%s", errOut)
	}
	head := readHead(t, rm)
	if head.Training.HeldOutPairs < 20 || head.Training.HeldOutAccuracy < 0.9 {
		t.Fatalf("held-out accuracy %.3f on %d pairs, want ≥ 0.9", head.Training.HeldOutAccuracy, head.Training.HeldOutPairs)
	}
	if head.Backbone.Dim != 64 || len(head.Backbone.SHA256) != 64 || head.Backbone.Feature != reward.FeatureLastToken {
		t.Fatalf("head backbone %+v", head.Backbone)
	}
	res := evalJSON(t, dir, "--model", f.model, "--rm", rm, "--data", f.test)
	if res.Pairs != 200 || *res.Accuracy < 0.9 {
		t.Fatalf("fresh test pairs: %d pairs, accuracy %.3f, want ≥ 0.9", res.Pairs, *res.Accuracy)
	}
	t.Logf("rule %q: held-out accuracy %.3f (%d pairs), fresh test accuracy %.3f, AUC %.3f",
		synth.Rule, head.Training.HeldOutAccuracy, head.Training.HeldOutPairs, *res.Accuracy, *res.AUC)

	// Training again reads every vector from the cache.
	_, errOut, code = chatloop(t, dir, "", "reward", "train", "--model", f.model, "--data", f.train, "--out", rm, "--seed", "1", "--epochs", "60")
	if code != 0 || !strings.Contains(errOut, "800 from the cache, 0 computed") {
		t.Fatalf("second training (exit %d) did not use the cache:\n%s", code, errOut)
	}
	if again := readHead(t, rm); again.Training != head.Training || again.W2[0] != head.W2[0] {
		t.Fatalf("same data and seed gave another head: %+v vs %+v", again.Training, head.Training)
	}

	// Shuffled labels: nothing to learn.
	noise := filepath.Join(dir, "noise.json")
	if _, errOut, code := chatloop(t, dir, "", "reward", "train", "--model", f.model, "--data", f.noise, "--out", noise, "--seed", "1", "--epochs", "60", "--held-out", "0.25"); code != 0 {
		t.Fatalf("reward train on shuffled labels exited %d: %s", code, errOut)
	}
	nh := readHead(t, noise)
	nres := evalJSON(t, dir, "--model", f.model, "--rm", noise, "--data", f.test)
	if math.Abs(nh.Training.HeldOutAccuracy-0.5) > 0.15 || math.Abs(*nres.Accuracy-0.5) > 0.15 {
		t.Fatalf("shuffled labels: held-out accuracy %.3f, fresh test accuracy %.3f; want about 0.5", nh.Training.HeldOutAccuracy, *nres.Accuracy)
	}
	t.Logf("shuffled labels: held-out accuracy %.3f (%d pairs), fresh test accuracy %.3f", nh.Training.HeldOutAccuracy, nh.Training.HeldOutPairs, *nres.Accuracy)

	// reward score: one line per row, in order, agreeing with eval.
	out, errOut, code = chatloop(t, dir, "", "reward", "score", "--model", f.model, "--rm", rm, "--data", f.test)
	if code != 0 {
		t.Fatalf("reward score exited %d: %s", code, errOut)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	n, right := 0, 0
	for sc.Scan() {
		var row scoreRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("reward score line %q: %v", sc.Text(), err)
		}
		n++
		if row.Line != n || row.Chosen == nil || row.Rejected == nil {
			t.Fatalf("reward score line %d: %s", n, sc.Text())
		}
		if *row.Chosen > *row.Rejected {
			right++
		}
	}
	if n != 200 || math.Abs(float64(right)/200-*res.Accuracy) > 1e-9 {
		t.Fatalf("reward score: %d rows, %d chosen above rejected; eval said accuracy %.3f", n, right, *res.Accuracy)
	}
}

func TestRewardRefusesAnotherBackbone(t *testing.T) {
	f := rewardFiles(t)
	dir := t.TempDir()
	rm := filepath.Join(dir, "rm.json")
	if _, errOut, code := chatloop(t, dir, "", "reward", "train", "--model", f.model, "--data", f.test, "--out", rm, "--epochs", "3"); code != 0 {
		t.Fatalf("reward train exited %d: %s", code, errOut)
	}
	head := readHead(t, rm)
	_, errOut, code := chatloop(t, dir, "", "reward", "eval", "--model", f.otherModel, "--rm", rm, "--data", f.test, "--cache", "off")
	if code == 0 || !strings.Contains(errOut, "trained on another backbone") || !strings.Contains(errOut, head.Backbone.SHA256[:12]) {
		t.Fatalf("eval with another backbone: exit %d, stderr %s", code, errOut)
	}
	// The other model's digest is named too.
	other, err := sha256Hex(f.otherModel)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, other[:12]) {
		t.Fatalf("the refusal does not name the model's digest %s: %s", other[:12], errOut)
	}
}

func TestRewardBadInput(t *testing.T) {
	f := rewardFiles(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"prompt\":[],\"chosen\":[{\"role\":\"assistant\",\"content\":\"a\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"b\"}]}\nnot json\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"reward", "train", "--model", f.model, "--data", bad, "--out", filepath.Join(dir, "x.json")}, "line 2"},
		{[]string{"reward", "train", "--model", f.model, "--data", f.test}, "--out is required"},
		{[]string{"reward", "train", "--data", f.test, "--out", filepath.Join(dir, "x.json")}, "--model is required"},
		{[]string{"reward", "eval", "--model", f.model, "--data", f.test}, "--rm is required"},
		{[]string{"reward", "eval", "--model", f.model, "--rm", bad, "--data", f.test, "--cache", "off"}, "invalid data"},
		{[]string{"reward", "score", "--model", f.model, "--rm", filepath.Join(dir, "none.json"), "--data", f.test, "--cache", "off"}, "no such file"},
	} {
		_, errOut, code := chatloop(t, dir, "", c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error with %q", c.args, code, errOut, c.want)
		}
	}
}

// TestRewardTrainFromStore trains on the feedback database: sibling
// answers with opposite votes become preference pairs, the votes kto rows.
func TestRewardTrainFromStore(t *testing.T) {
	f := rewardFiles(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "feedback.db")
	store, err := feedback.Open(db, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i, p := range synth.Pairs(60, 5, false) {
		prompt := []bot.Turn{{Role: bot.RoleUser, Content: p.Prompt[0].Content}}
		group := bot.GroupID(fmt.Sprintf("g%03d", i))
		for j, text := range []string{p.Chosen, p.Rejected} {
			a := bot.Answer{
				ID: bot.AnswerID(fmt.Sprintf("a%03d-%d", i, j)), GroupID: group, Platform: "console", ChatID: "c",
				Created: created.Add(time.Duration(i) * time.Minute), Prompt: prompt, Text: text, Finished: true, Sent: true,
			}
			if err := store.RecordAnswer(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := store.FinishAnswer(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := store.Vote(ctx, a.ID, "console", "voter", 1-2*j); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Lone answers with a vote: the pointwise (kto) term.
	for i, p := range synth.Pairs(10, 6, false) {
		a := bot.Answer{
			ID: bot.AnswerID(fmt.Sprintf("lone%02d", i)), GroupID: bot.GroupID(fmt.Sprintf("lone%02d", i)), Platform: "console", ChatID: "c",
			Created: created, Prompt: []bot.Turn{{Role: bot.RoleUser, Content: p.Prompt[0].Content}}, Text: p.Chosen, Finished: true, Sent: true,
		}
		if err := store.RecordAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := store.FinishAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := store.Vote(ctx, a.ID, "console", "voter", 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	rm := filepath.Join(dir, "rm.json")
	out, errOut, code := chatloop(t, dir, "", "reward", "train", "--model", f.model, "--db", db, "--out", rm, "--epochs", "40")
	if code != 0 {
		t.Fatalf("reward train --db exited %d: %s", code, errOut)
	}
	if !strings.Contains(out, db+": 60 preference pairs, 10 votes on answers outside them") {
		t.Fatalf("reward train --db printed:\n%s", out)
	}
	if h := readHead(t, rm); h.Training.TrainPoints+h.Training.HeldOutPoints != 10 {
		t.Fatalf("the head was trained with %d+%d votes, want 10", h.Training.TrainPoints, h.Training.HeldOutPoints)
	}
	res := evalJSON(t, dir, "--model", f.model, "--rm", rm, "--data", f.test)
	if *res.Accuracy < 0.9 {
		t.Fatalf("trained from the store: accuracy %.3f on the test pairs", *res.Accuracy)
	}
}
