package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestChatABAdapters runs chat (the built program) with [bot] ab_adapters
// = ["", tuned]: every question gets an A/B offer of the base and the
// tuned version; the greedy answers are exactly what chat gives with
// --no-lora and with --lora tuned; the choices count for the versions in
// feedback stats, and export --version keeps one version's answers.
func TestChatABAdapters(t *testing.T) {
	path := tinyModel(t)
	dir := t.TempDir()
	tuned := tinyAdapter(t, dir, "tuned.gguf", "qwen2", 5)
	cfg := fmt.Sprintf(`[bot]
ab_probability = 1.0
ab_adapters = ["", %q]
rate_per_minute = 0.0
[model]
path = %q
threads = 1
max_tokens = 6
[model.sampling]
temperature = 0.0
repeat_penalty = 1.0
`, tuned, path)
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	questions := []string{"hello", "what is two plus two?", "tell me a joke", "good night"}
	var script strings.Builder
	for i, q := range questions {
		script.WriteString(q + "\n" + []string{"A", "B"}[i%2] + "\n")
	}
	out, errOut, code := chatloop(t, dir, script.String(), "chat")
	if code != 0 {
		t.Fatalf("chat: exit %d\n%s\n%s", code, out, errOut)
	}

	// Each version alone, as the reference of what it answers.
	single := func(q string, extra ...string) string {
		t.Helper()
		d := t.TempDir()
		args := append([]string{"chat", "--model", path, "--db", filepath.Join(d, "x.db"), "--once", q}, extra...)
		plain := "[model]\nthreads = 1\nmax_tokens = 6\n[model.sampling]\ntemperature = 0.0\nrepeat_penalty = 1.0\n"
		if err := os.WriteFile(filepath.Join(d, "chatloop.toml"), []byte(plain), 0o644); err != nil {
			t.Fatal(err)
		}
		o, e, c := chatloop(t, d, "", args...)
		if c != 0 {
			t.Fatalf("chat --once %v: exit %d: %s", extra, c, e)
		}
		return strings.TrimSpace(o)
	}
	var rows []feedback.RawRow
	raw, errOut, code := chatloop(t, dir, "", "feedback", "export", "--format", "raw", "--no-scrub")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(raw), "\n") {
		var r feedback.RawRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2*len(questions) {
		t.Fatalf("%d answers stored, want %d", len(rows), 2*len(questions))
	}
	want := map[string]string{} // question + version -> answer
	versions := map[string]bool{}
	for _, r := range rows {
		q := r.Prompt[len(r.Prompt)-1].Content
		tunedAnswer := len(r.Model.Adapters) == 1
		key := q + fmt.Sprint(tunedAnswer)
		if want[key] != "" {
			t.Errorf("two answers of one version to %q", q)
		}
		want[key] = r.Text
		versions[feedback.ModelVersion(bot.ModelInfo(r.Model))] = true
		if tunedAnswer && (len(r.Model.Adapters[0].SHA256) != 64 || r.Model.Adapters[0].Scale != 1 || !strings.Contains(r.Model.Name, "+tuned-")) {
			t.Errorf("tuned answer's model: %+v", r.Model)
		}
		if len(r.Model.SHA256) != 64 {
			t.Errorf("base SHA-256 not recorded: %+v", r.Model)
		}
	}
	if len(versions) != 2 {
		t.Fatalf("versions: %v", versions)
	}
	q := questions[0] // no history before it: the same prompt as chat --once
	if got, w := single(q, "--no-lora"), strings.TrimSpace(want[q+"false"]); got != w {
		t.Errorf("base answer in the A/B offer %q, chat --no-lora %q", w, got)
	}
	if got, w := single(q, "--lora", tuned), strings.TrimSpace(want[q+"true"]); got != w {
		t.Errorf("tuned answer in the A/B offer %q, chat --lora %q", w, got)
	}
	if want[q+"false"] == want[q+"true"] {
		t.Errorf("the versions answer alike (%q): the comparison proves nothing", want[q+"true"])
	}

	js, errOut, code := chatloop(t, dir, "", "feedback", "stats", "--json")
	if code != 0 {
		t.Fatalf("stats: exit %d: %s", code, errOut)
	}
	var st feedback.Stats
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Versions) != 2 || st.Choices != len(questions) {
		t.Fatalf("stats: %d versions, %d choices: %s", len(st.Versions), st.Choices, js)
	}
	a, b := st.Versions[0], st.Versions[1]
	if len(a.ABRecord) != 1 || len(b.ABRecord) != 1 || a.ABRecord[0].Against != b.Version ||
		a.ABRecord[0].Wins+a.ABRecord[0].Losses != len(questions) || a.ABRecord[0].Wins != b.ABRecord[0].Losses {
		t.Errorf("A/B records: %+v / %+v", a.ABRecord, b.ABRecord)
	}
	text, _, _ := chatloop(t, dir, "", "feedback", "stats")
	if !strings.Contains(text, "A/B record") || !strings.Contains(text, "+tuned-") {
		t.Errorf("stats text lacks the A/B record:\n%s", text)
	}
	kto, errOut, code := chatloop(t, dir, "", "feedback", "export", "--format", "raw", "--no-scrub", "--version", b.Version)
	if code != 0 || strings.Count(strings.TrimSpace(kto), "\n")+1 != len(questions) {
		t.Errorf("export --version %q: exit %d, %d rows: %s", b.Version, code, strings.Count(kto, "\n"), errOut)
	}

	// ab_adapters with another backend, or merged adapters, is refused.
	if _, errOut, code := chatloop(t, dir, "", "chat", "--backend", "demo", "--once", "hi"); code == 0 || !strings.Contains(errOut, "ab_adapters") {
		t.Errorf("ab_adapters with the demo backend: exit %d: %s", code, errOut)
	}
	if _, errOut, code := chatloop(t, dir, "", "chat", "--lora-merge", "--once", "hi"); code == 0 || !strings.Contains(errOut, "merge") {
		t.Errorf("ab_adapters with --lora-merge: exit %d: %s", code, errOut)
	}
}
