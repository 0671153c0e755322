package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// onlineRoundLine and onlineSummaryLine are the report of tune --online
// (docs/versions.md): round, pairs, the samples' mean reward, the loss,
// the held-out mean reward; before, after, rounds.
var (
	onlineRoundLine   = regexp.MustCompile(`(?m)^round (\d+): (\d+) pairs, mean reward of the samples (-?\d+\.\d{4}), loss (-?\d+\.\d{4}|–); held-out mean reward of fresh samples (-?\d+\.\d{4})$`)
	onlineSummaryLine = regexp.MustCompile(`(?m)^held-out mean reward: (-?\d+\.\d{4}) before, (-?\d+\.\d{4}) after (\d+) rounds$`)
)

// TestTuneOnlineCLI runs chatloop tune --online through the program: a
// reward head trained by reward train on the synthetic question rule
// scores the tiny model's samples; two rounds report their held-out mean
// reward in the documented lines and write an adapter that chat serves.
// (That the held-out reward rises is feedback/online's
// TestOnlineRaisesTrainedReward.)
func TestTuneOnlineCLI(t *testing.T) {
	f := rewardFiles(t)
	dir := t.TempDir()
	rm := filepath.Join(dir, "rm.json")
	if out, errOut, code := chatloop(t, dir, "", "reward", "train", "--model", f.model, "--data", f.train, "--out", rm, "--seed", "1", "--epochs", "10"); code != 0 {
		t.Fatalf("reward train: exit %d\n%s\n%s", code, out, errOut)
	}
	prompts := filepath.Join(dir, "prompts.txt")
	if err := os.WriteFile(prompts, []byte("tell me about rivers\ntell me about bread\n{\"prompt\":\"tell me about chess\"}\n{\"prompt\":[{\"role\":\"user\",\"content\":\"tell me about tea\"}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "online.gguf")
	args := []string{"tune", "--online", "--model", f.model, "--rm", rm, "--prompts", prompts, "--samples", "3", "--rounds", "2",
		"--sample-max-tokens", "4", "--holdout", "0.25", "--rank", "2", "--lr", "1e-3", "--threads", "2", "--out", out}
	stdout, errOut, code := chatloop(t, dir, "", args...)
	if code != 0 {
		t.Fatalf("tune --online: exit %d\n%s\n%s", code, stdout, errOut)
	}
	t.Logf("%s%s", errOut, stdout)
	// The per-round report, as docs/versions.md shows it.
	rounds := onlineRoundLine.FindAllStringSubmatch(stdout, -1)
	if len(rounds) != 2 || rounds[0][1] != "1" || rounds[1][1] != "2" {
		t.Fatalf("want one report line per round:\n%s", stdout)
	}
	summary := onlineSummaryLine.FindStringSubmatch(stdout)
	if summary == nil || summary[2] != rounds[1][5] || summary[3] != "2" {
		t.Errorf("the summary line does not repeat the last round's held-out mean reward %s:\n%s", rounds[1][5], stdout)
	}
	if !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("stdout lacks %q:\n%s", "wrote "+out, stdout)
	}
	if !strings.Contains(errOut, "3 prompts to sample for, 1 held out") {
		t.Errorf("stderr: %s", errOut)
	}
	if o, e, c := chatloop(t, dir, "", "chat", "--model", f.model, "--lora", out, "--db", filepath.Join(dir, "c.db"), "--once", "hi"); c != 0 {
		t.Errorf("chat --lora the online adapter: exit %d\n%s\n%s", c, o, e)
	}

	// Bad input: no reward head, too few samples, a reward head for
	// another backbone, an empty prompt file.
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tune", "--online", "--model", f.model, "--prompts", prompts, "--out", out}, "--rm"},
		{[]string{"tune", "--online", "--model", f.model, "--rm", rm, "--prompts", prompts, "--samples", "1", "--out", out}, "--samples"},
		{[]string{"tune", "--online", "--model", f.otherModel, "--rm", rm, "--prompts", prompts, "--out", filepath.Join(dir, "x.gguf")}, "--rm"},
		{[]string{"tune", "--online", "--model", f.model, "--rm", rm, "--prompts", empty, "--out", filepath.Join(dir, "x.gguf")}, "no prompts"},
	} {
		if _, errOut, code := chatloop(t, dir, "", c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q", c.args, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gguf")); err == nil {
		t.Error("a failed run wrote its adapter")
	}
}
