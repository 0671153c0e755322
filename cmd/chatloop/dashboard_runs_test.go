package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/lora"
)

// TestLatestRunsListsTunedAdapters: the overview's "latest runs" names the
// adapters the bot serves ([model] adapters and [bot] ab_adapters), once
// each, with what the file says of itself.
func TestLatestRunsListsTunedAdapters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tuned.gguf")
	a := &lora.Adapter{Arch: "qwen2", Alpha: 16, Pairs: []*lora.Pair{{
		Name: "blk.0.attn_q.weight", In: 4, Out: 2, Rank: 2,
		A: []float32{1, 2, 3, 4, 5, 6, 7, 8}, B: []float32{1, 0, 0, 1},
	}}}
	if err := lora.Write(path, a); err != nil {
		t.Fatal(err)
	}
	read, err := lora.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Model.Adapters = []string{path}
	cfg.Bot.ABAdapters = []string{"", path, filepath.Join(dir, "missing.gguf")}
	runs := latestRuns(&cfg)
	if len(runs) != 2 {
		t.Fatalf("runs %+v, want the adapter once and the missing one", runs)
	}
	if r := runs[0]; r.Kind != "tune" || r.Path != path || r.When.IsZero() ||
		!strings.Contains(r.Summary, read.ShortName()) || !strings.Contains(r.Summary, "rank 2, alpha 16, 1 matrices") {
		t.Errorf("tuned adapter shown as %+v", r)
	}
	if r := runs[1]; r.Kind != "tune" || !strings.HasPrefix(r.Summary, "cannot read it") {
		t.Errorf("missing adapter shown as %+v", r)
	}
}
