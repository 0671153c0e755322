package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/lora"
)

// tinyAdapter writes an adapter for tinyModel's attention and MLP
// projections (hidden 64, 4 heads, 2 KV heads of 16, FFN 128), strong
// enough to change its greedy answers.
func tinyAdapter(t *testing.T, dir, name, arch string, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	shapes := []struct {
		name    string
		in, out int
	}{{"attn_k", 64, 32}, {"attn_q", 64, 64}, {"ffn_down", 128, 64}, {"ffn_up", 64, 128}}
	a := &lora.Adapter{Arch: arch, Alpha: 8}
	for l := range 2 {
		for _, s := range shapes {
			p := &lora.Pair{Name: fmt.Sprintf("blk.%d.%s.weight", l, s.name), In: s.in, Out: s.out, Rank: 4,
				A: make([]float32, 4*s.in), B: make([]float32, s.out*4)}
			for i := range p.A {
				p.A[i] = float32(rng.NormFloat64() * 0.3)
			}
			for i := range p.B {
				p.B[i] = float32(rng.NormFloat64() * 0.3)
			}
			a.Pairs = append(a.Pairs, p)
		}
	}
	path := filepath.Join(dir, name)
	if err := lora.Write(path, a); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestModelGenerateLoRA(t *testing.T) {
	path := tinyModel(t)
	dir := t.TempDir()
	adapter := tinyAdapter(t, dir, "tuned.gguf", "qwen2", 1)
	gen := func(extra ...string) string {
		t.Helper()
		args := append([]string{"model", "generate", "--model", path, "--raw", "--temperature", "0", "--max-tokens", "10", "--prompt", "Once upon a time", "--threads", "1", "--repeat-penalty", "1"}, extra...)
		out, errOut, code := run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", extra, code, errOut)
		}
		return out
	}
	base := gen()
	tuned := gen("--lora", adapter)
	half := gen("--lora", adapter+":0.5")
	if off := gen("--lora", adapter+":0"); off != base {
		t.Errorf("--lora FILE:0 gave %q, the base %q", off, base)
	}
	if tuned == base || half == tuned {
		t.Fatalf("the adapter or its scale changes nothing: base %q, tuned %q, half %q", base, tuned, half)
	}
	// The engine with the same options gives the same text: the flags
	// reach model.Options as written.
	for _, c := range []struct {
		scale float32
		want  string
	}{{1, tuned}, {0.5, half}} {
		e, err := model.Load(path, model.Options{Threads: 1, Adapters: []model.Adapter{{Path: adapter, Scale: c.scale}}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Generate(context.Background(), model.Request{Raw: "Once upon a time", MaxTokens: 10}, nil)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Text+"\n" != c.want {
			t.Errorf("scale %g: engine %q, command %q", c.scale, res.Text, c.want)
		}
	}

	out, errOut, code := run(t, "", "model", "info", "--model", path, "--lora", adapter+":0.5")
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "+tuned-") || !strings.Contains(out, "scale 0.5") || !strings.Contains(out, "8 matrices") || !strings.Contains(out, "side path") {
		t.Errorf("info does not show the adapter:\n%s", out)
	}
	out, errOut, code = run(t, "", "model", "info", "--model", path, "--lora", adapter, "--lora-merge")
	if code != 0 {
		t.Fatalf("info --lora-merge: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "scale 1,") || !strings.Contains(out, "merged") {
		t.Errorf("info does not show the merged adapter:\n%s", out)
	}
}

func TestLoRAErrors(t *testing.T) {
	path := tinyModel(t)
	dir := t.TempDir()
	llama := tinyAdapter(t, dir, "llama.gguf", "llama", 2)
	good := tinyAdapter(t, dir, "good.gguf", "qwen2", 3)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.gguf")
	if err := os.WriteFile(cut, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--lora", llama}, []string{"llama.gguf", "llama", "qwen2", path}},
		{[]string{"--lora", cut}, []string{"cut.gguf", "not a valid LoRA adapter"}},
		{[]string{"--lora", good, "--no-lora"}, []string{"--no-lora"}},
	} {
		args := append([]string{"model", "generate", "--model", path, "--prompt", "x", "--max-tokens", "1", "--threads", "1"}, c.args...)
		_, errOut, code := run(t, "", args...)
		if code == 0 {
			t.Errorf("%v: exit 0", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr %q does not mention %q", c.args, errOut, w)
			}
		}
	}
}

func TestChatLoRA(t *testing.T) {
	path := tinyModel(t)
	dir := t.TempDir()
	good := tinyAdapter(t, dir, "good.gguf", "qwen2", 3)
	llama := tinyAdapter(t, dir, "llama.gguf", "llama", 2)
	if _, errOut, code := run(t, "", "chat", "--model", path, "--lora", llama, "--once", "hi"); code == 0 || !strings.Contains(errOut, "llama.gguf") || !strings.Contains(errOut, "qwen2") {
		t.Errorf("chat --lora for another base: exit %d, stderr %q", code, errOut)
	}
	out, errOut, code := run(t, "", "chat", "--model", path, "--lora", good+":0.5", "--once", "hi")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Errorf("chat --lora: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestParseLoRAFlag(t *testing.T) {
	for _, c := range []struct {
		in    string
		path  string
		scale float64
		bad   bool
	}{
		{"a.gguf", "a.gguf", 1, false},
		{"a.gguf:0.5", "a.gguf", 0.5, false},
		{"dir:x/a.gguf", "dir:x/a.gguf", 1, false},
		{"C:\\a.gguf:2", "C:\\a.gguf", 2, false},
		{"a.gguf:NaN", "", 0, true},
		{"", "", 0, true},
	} {
		path, scale, err := parseLoRAFlag(c.in)
		if (err != nil) != c.bad || path != c.path || scale != c.scale {
			t.Errorf("parseLoRAFlag(%q) = %q, %v, %v; want %q, %v, error %v", c.in, path, scale, err, c.path, c.scale, c.bad)
		}
	}
}

func TestAdapterConfigKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := loadConfig(write("[model]\nadapters = [\"a.gguf\", \"b.gguf\"]\nadapter_scales = [0.5]\nmerge_adapters = true\n"), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := cfg.Model.engineOptions()
	if len(opts.Adapters) != 2 || opts.Adapters[0] != (model.Adapter{Path: "a.gguf", Scale: 0.5}) || opts.Adapters[1] != (model.Adapter{Path: "b.gguf", Scale: 1}) || !opts.MergeAdapters {
		t.Errorf("engine options %+v", opts)
	}
	if _, err := loadConfig(write("[model]\nadapters = [\"a.gguf\"]\nadapter_scales = [1, 2]\n"), true, nil); err == nil || !strings.Contains(err.Error(), "adapter_scales") {
		t.Errorf("more scales than adapters: %v", err)
	}
	f := loraFlags{files: []string{"c.gguf:2"}}
	if err := f.apply(&cfg.Model); err != nil {
		t.Fatal(err)
	}
	if opts := cfg.Model.engineOptions(); len(opts.Adapters) != 1 || opts.Adapters[0] != (model.Adapter{Path: "c.gguf", Scale: 2}) {
		t.Errorf("--lora replaces the configured adapters: %+v", opts.Adapters)
	}
	f = loraFlags{none: true}
	if err := f.apply(&cfg.Model); err != nil || len(cfg.Model.engineOptions().Adapters) != 0 {
		t.Errorf("--no-lora: %v, %+v", err, cfg.Model.engineOptions().Adapters)
	}
}
