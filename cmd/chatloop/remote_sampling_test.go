package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/feedback"
)

// TestRemoteRecordsSentSampling is issue 15's item 11 for the OpenAI
// backend: an answer records the sampling parameters that were sent
// (temperature, top_p, seed), not the local engine's top_k, min_p and
// repeat_penalty, which an OpenAI-compatible server never saw.
func TestRemoteRecordsSentSampling(t *testing.T) {
	f := newFakeOpenAI(t, "served-model")
	dir := t.TempDir()
	cfg := fmt.Sprintf("[model]\nbackend = \"openai\"\nbase_url = %q\n[model.sampling]\ntemperature = 0.5\ntop_k = 40\ntop_p = 0.8\nmin_p = 0.05\nrepeat_penalty = 1.1\n", f.URL+"/v1")
	cfgPath := filepath.Join(dir, "chatloop.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "fb.db")
	var out, errb strings.Builder
	if code := execute([]string{"--config", cfgPath, "chat", "--db", db, "--once", "hi"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("chat: exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := execute([]string{"--config", cfgPath, "feedback", "export", "--db", db, "--format", "raw"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errb.String())
	}
	var row feedback.RawRow
	if err := json.Unmarshal([]byte(out.String()), &row); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	var sp map[string]any
	b, _ := json.Marshal(row.Sampling)
	_ = json.Unmarshal(b, &sp)
	f.mu.Lock()
	sent := f.bodies[0]
	f.mu.Unlock()
	for _, k := range []string{"temperature", "top_p", "seed"} {
		if fmt.Sprint(sp[k]) != fmt.Sprint(sent[k]) {
			t.Errorf("recorded %s = %v, sent %v", k, sp[k], sent[k])
		}
	}
	for _, k := range []string{"top_k", "min_p", "repeat_penalty"} {
		if _, wasSent := sent[k]; wasSent {
			t.Errorf("%s was sent: %v", k, sent)
		}
		if v, ok := sp[k]; ok && v != float64(0) {
			t.Errorf("recorded %s = %v, but it was never sent", k, v)
		}
	}
}
