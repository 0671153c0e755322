package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTuneOnlineCLI runs chatloop tune --online through the program: a
// reward head trained by reward train on the synthetic question rule
// scores the tiny model's samples; one round writes an adapter that chat
// serves. (That the held-out reward rises is feedback/online's test.)
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
	for _, want := range []string{"round 1:", "round 2:", "held-out mean reward", "wrote " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
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
