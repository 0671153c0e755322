package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNumericRanges is issue 15's item 7: every numeric key and flag is
// range-checked (NaN included), with an error naming the key or flag; an
// error from an environment variable names the variable, not a file.
func TestNumericRanges(t *testing.T) {
	keys := []struct{ config, want string }{
		{"[model]\ncontext = -5", "model.context"},
		{"[model]\ncontext = 99999999", "model.context"},
		{"[model]\nmax_tokens = 99999999", "model.max_tokens"},
		{"[model]\ntimeout = \"-5s\"", "model.timeout"},
		{"[model.sampling]\ntemperature = -1", "temperature"},
		{"[model.sampling]\ntop_p = 3", "top_p"},
		{"[model.sampling]\ntemperature = nan", "temperature"},
		{"[bot]\nrate_per_minute = nan", "rate_per_minute"},
		{"[bot]\nrate_per_minute = inf", "rate_per_minute"},
		{"[bot]\nab_probability = nan", "ab_probability"},
		{"[bot]\nrate_burst = -1", "rate_burst"},
		{"[bot]\nvote_window = \"-1m\"", "vote_window"},
		{"[reward]\nbest_of = 100000", "reward.best_of"},
	}
	for _, k := range keys {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(k.config+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := chatloop(t, dir, "", "chat", "--backend", "demo", "--once", "hi")
		if code == 0 || !strings.Contains(errOut, k.want) || !strings.Contains(errOut, "chatloop.toml") {
			t.Errorf("%q: exit %d, stderr %q; want an error naming %s in chatloop.toml", k.config, code, errOut, k.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "chatloop.db")); err == nil {
			t.Errorf("%q: a database was created", k.config)
		}
	}

	// From the environment, with no configuration file at all.
	t.Setenv("CHATLOOP_MODEL_CONTEXT", "-5")
	_, errOut, code := chatloop(t, t.TempDir(), "", "chat", "--backend", "demo", "--once", "hi")
	if code == 0 || !strings.Contains(errOut, "CHATLOOP_MODEL_CONTEXT") || strings.Contains(errOut, "chatloop.toml") {
		t.Errorf("CHATLOOP_MODEL_CONTEXT=-5: exit %d, stderr %q; want an error naming the variable and no file", code, errOut)
	}
	os.Unsetenv("CHATLOOP_MODEL_CONTEXT")

	flags := []struct {
		args []string
		want string
	}{
		{[]string{"model", "generate", "--max-tokens", "-3", "--prompt", "hi"}, "--max-tokens"},
		{[]string{"model", "generate", "--temperature", "-1", "--prompt", "hi"}, "--temperature"},
		{[]string{"model", "generate", "--temperature", "NaN", "--prompt", "hi"}, "--temperature"},
		{[]string{"model", "generate", "--top-p", "3", "--prompt", "hi"}, "--top-p"},
		{[]string{"model", "generate", "--context", "-5", "--prompt", "hi"}, "--context"},
		{[]string{"model", "bench", "--pp", "0"}, "--pp"},
		{[]string{"model", "bench", "--threads", "-4"}, "--threads"},
		{[]string{"reward", "train", "--lr", "NaN"}, "--lr"},
		{[]string{"reward", "train", "--batch", "0"}, "--batch"},
		{[]string{"feedback", "export", "--min-votes", "-1"}, "--min-votes"},
		{[]string{"serve", "--max-tokens", "-1"}, "--max-tokens"},
	}
	for _, f := range flags {
		_, errOut, code := chatloop(t, t.TempDir(), "", f.args...)
		if code == 0 || !strings.Contains(errOut, f.want) || strings.Contains(strings.ToLower(errOut), "gguf") {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %s (before any model is looked for)", f.args, code, errOut, f.want)
		}
	}
}
