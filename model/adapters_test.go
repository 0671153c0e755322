package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/lora"
	"github.com/chatloop/chatloop/model/testmodel"
)

var f32Model struct {
	once sync.Once
	path string
	err  error
}

// sharedF32Model is a tiny qwen2 model in F32, written once.
func sharedF32Model(t *testing.T) string {
	t.Helper()
	sharedModel(t) // makes shared.dir
	f32Model.once.Do(func() {
		f32Model.path = filepath.Join(shared.dir, "qwen2-f32.gguf")
		f32Model.err = testmodel.WriteFile(f32Model.path, testmodel.Tiny("qwen2", ggml.F32, 12))
	})
	if f32Model.err != nil {
		t.Fatal(f32Model.err)
	}
	return f32Model.path
}

// testAdapter makes an adapter of rank r for the tiny qwen2 model's
// projections named in targets (in every layer), with values large
// enough to change its greedy answers.
func testAdapter(seed uint64, rank int, alpha float32, targets ...string) *lora.Adapter {
	rng := rand.New(rand.NewPCG(seed, 7))
	// Tiny qwen2: hidden 64, 4 heads of 16, 2 KV heads, FFN 128.
	shapes := map[string][2]int{ // in, out
		"attn_q": {64, 64}, "attn_k": {64, 32}, "attn_v": {64, 32}, "attn_output": {64, 64},
		"ffn_gate": {64, 128}, "ffn_up": {64, 128}, "ffn_down": {128, 64},
	}
	a := &lora.Adapter{Arch: "qwen2", Alpha: alpha}
	for l := range 2 {
		for _, name := range targets {
			sh := shapes[name]
			p := &lora.Pair{Name: fmt.Sprintf("blk.%d.%s.weight", l, name), In: sh[0], Out: sh[1], Rank: rank}
			p.A = make([]float32, rank*p.In)
			p.B = make([]float32, p.Out*rank)
			for i := range p.A {
				p.A[i] = float32(rng.NormFloat64() * 0.3)
			}
			for i := range p.B {
				p.B[i] = float32(rng.NormFloat64() * 0.3)
			}
			a.Pairs = append(a.Pairs, p)
		}
	}
	slicesSortPairs(a.Pairs)
	return a
}

func slicesSortPairs(ps []*lora.Pair) {
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if ps[j].Name < ps[i].Name {
				ps[i], ps[j] = ps[j], ps[i]
			}
		}
	}
}

func writeAdapter(t *testing.T, name string, a *lora.Adapter) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := lora.Write(path, a); err != nil {
		t.Fatal(err)
	}
	return path
}

var allTargets = []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

// mergedByHand writes a copy of the F32 base with the adapter's update
// added to its weights in float64, independently of the engine's code.
func mergedByHand(t *testing.T, basePath string, a *lora.Adapter, scale float64) string {
	t.Helper()
	f, err := gguf.Open(basePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter(f.Version, f.Alignment)
	for _, kv := range f.KV {
		if kv.Key != gguf.KeyAlignment {
			w.AddKV(kv.Key, kv.Value)
		}
	}
	for _, ti := range f.Tensors {
		data, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		var p *lora.Pair
		for _, q := range a.Pairs {
			if q.Name == ti.Name {
				p = q
			}
		}
		if p == nil {
			if err := w.AddTensor(ti.Name, ti.Type, ti.Dims, data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if ti.Type != ggml.F32 || int(ti.Dims[0]) != p.In || int(ti.Dims[1]) != p.Out {
			t.Fatalf("%s: %s %v does not fit the pair", ti.Name, ti.Type, ti.Dims)
		}
		vals := make([]float32, p.In*p.Out)
		if err := ggml.Dequantize(ti.Type, data, vals); err != nil {
			t.Fatal(err)
		}
		f := scale * float64(a.Alpha) / float64(p.Rank)
		for o := range p.Out {
			for i := range p.In {
				var d float64
				for r := range p.Rank {
					d += float64(p.B[o*p.Rank+r]) * float64(p.A[r*p.In+i])
				}
				vals[o*p.In+i] = float32(float64(vals[o*p.In+i]) + f*d)
			}
		}
		if err := w.AddFloats(ti.Name, ti.Type, ti.Dims, vals); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "merged.gguf")
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func loadPath(t *testing.T, path string, opts Options) *Engine {
	t.Helper()
	e, err := Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func maxRelDiff(a, b []float32) float64 {
	var m, scale float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return m / scale
}

// TestAdapterSidePathAndMerge checks the side path and the merge against a
// base whose weights had the update added by hand, and that the adapter
// changes the model's output at all.
func TestAdapterSidePathAndMerge(t *testing.T) {
	base := sharedF32Model(t)
	a := testAdapter(1, 4, 8, allTargets...)
	const scale = 0.75
	adapterPath := writeAdapter(t, "tuned.gguf", a)
	ref := loadPath(t, mergedByHand(t, base, a, scale), Options{Threads: 2, Context: 128})
	plain := loadPath(t, base, Options{Threads: 2, Context: 128})
	side := loadPath(t, base, Options{Threads: 2, Context: 128, Adapters: []Adapter{{Path: adapterPath, Scale: scale}}})
	merged := loadPath(t, base, Options{Threads: 2, Context: 128, Adapters: []Adapter{{Path: adapterPath, Scale: scale}}, MergeAdapters: true})

	prompt := plain.Tokenize("The quick brown fox jumps over the lazy dog, and then some more words follow")
	want, err := ref.Logits(prompt)
	if err != nil {
		t.Fatal(err)
	}
	without, err := plain.Logits(prompt)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff(without, want); d < 1e-2 {
		t.Fatalf("the adapter changes the logits by only %g: the test would not notice a missing update", d)
	}
	for name, e := range map[string]*Engine{"side path": side, "merged": merged} {
		got, err := e.Logits(prompt)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxRelDiff(got, want); d > 1e-4 {
			t.Errorf("%s: logits differ from the hand-merged base by %g (relative to the largest)", name, d)
		}
		// Prompt processing in one batch and decoding token by token agree.
		if name == "side path" {
			ctx := context.Background()
			r1, err := e.GenerateTokens(ctx, prompt, Request{MaxTokens: 8}, nil)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := ref.GenerateTokens(ctx, prompt, Request{MaxTokens: 8}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r1.Text != r2.Text {
				t.Errorf("greedy answer with the adapter %q, hand-merged base %q", r1.Text, r2.Text)
			}
		}
	}
	infos := side.Adapters()
	if len(infos) != 1 || infos[0].Scale != scale || infos[0].Merged || infos[0].Pairs != 14 || infos[0].Rank != 4 ||
		!strings.HasPrefix(infos[0].Short, "+tuned-") || len(infos[0].SHA256) != 64 {
		t.Errorf("side path Adapters() = %+v", infos)
	}
	if m := merged.Info().Adapters; len(m) != 1 || !m[0].Merged || m[0].SHA256 != infos[0].SHA256 {
		t.Errorf("merged Info().Adapters = %+v", m)
	}
}

// TestAdapterPerRequest serves the base and base+adapter side by side:
// each request's answer equals that of an engine serving only its
// version, whatever ran before it (the prefix cache is keyed by the
// adapter set).
func TestAdapterPerRequest(t *testing.T) {
	base := sharedModel(t)
	p1 := writeAdapter(t, "one.gguf", testAdapter(2, 4, 8, "attn_q", "attn_v", "ffn_down"))
	p2 := writeAdapter(t, "two.gguf", testAdapter(3, 2, 4, "ffn_up", "attn_output"))
	opts := func(paths ...string) Options {
		o := Options{Threads: 2, Context: 256}
		for _, p := range paths {
			o.Adapters = append(o.Adapters, Adapter{Path: p, Scale: 1})
		}
		return o
	}
	both := loadPath(t, base, opts(p1, p2))
	refs := map[string]*Engine{"base": loadPath(t, base, opts()), "one": loadPath(t, base, opts(p1)), "both": both}
	ctx := context.Background()
	msgs := []Message{{Role: "user", Content: "Tell me something about the sea and the ships on it."}}
	answer := func(e *Engine, req Request) string {
		t.Helper()
		req.Messages, req.MaxTokens = msgs, 12
		r, err := e.Generate(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Text
	}
	want := map[string]string{}
	for name, e := range refs {
		want[name] = answer(e, Request{})
	}
	if want["base"] == want["one"] || want["one"] == want["both"] {
		t.Fatalf("the adapters do not change the answer (%q): the test cannot tell versions apart", want)
	}
	for _, step := range []struct {
		version string
		req     Request
	}{
		{"base", Request{Base: true}}, {"both", Request{}}, {"one", Request{Adapters: []string{"one"}}},
		{"base", Request{Base: true}}, {"one", Request{Adapters: []string{p1}}}, {"both", Request{Adapters: []string{"one", "two"}}},
	} {
		if got := answer(both, step.req); got != want[step.version] {
			t.Errorf("request %+v: got %q, want the %s engine's %q", step.req, got, step.version, want[step.version])
		}
	}
	// Concurrent requests of different versions share steps.
	var wg sync.WaitGroup
	got := make([]string, 6)
	reqs := []Request{{Base: true}, {}, {Adapters: []string{"one"}}, {Base: true}, {}, {Adapters: []string{"one"}}}
	names := []string{"base", "both", "one", "base", "both", "one"}
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Messages, r.MaxTokens = msgs, 12
			res, err := both.Generate(ctx, r, nil)
			if err != nil {
				t.Error(err)
			}
			got[i] = res.Text
		}()
	}
	wg.Wait()
	for i := range got {
		if got[i] != want[names[i]] {
			t.Errorf("concurrent request %d (%s): got %q, want %q", i, names[i], got[i], want[names[i]])
		}
	}

	if _, err := both.Generate(ctx, Request{Messages: msgs, Adapters: []string{"three"}}, nil); !errors.Is(err, ErrAdapter) {
		t.Errorf("unknown adapter: got %v, want ErrAdapter", err)
	}
	merged := loadPath(t, base, Options{Threads: 1, Context: 64, Adapters: []Adapter{{Path: p1, Scale: 1}}, MergeAdapters: true})
	if _, err := merged.Generate(ctx, Request{Messages: msgs, Base: true}, nil); !errors.Is(err, ErrAdapter) {
		t.Errorf("base from merged weights: got %v, want ErrAdapter", err)
	}
}

func TestAdapterRefused(t *testing.T) {
	base := sharedModel(t)
	good := testAdapter(4, 2, 4, "attn_q")
	otherArch := testAdapter(4, 2, 4, "attn_q")
	otherArch.Arch = "llama"
	otherShape := testAdapter(4, 2, 4, "attn_q")
	for _, p := range otherShape.Pairs {
		p.In, p.A = 32, p.A[:p.Rank*32]
	}
	embd := testAdapter(4, 2, 4, "attn_q")
	embd.Pairs = append(embd.Pairs, &lora.Pair{Name: "token_embd.weight", In: 64, Out: 151936, Rank: 1, A: make([]float32, 64), B: make([]float32, 151936)})
	slicesSortPairs(embd.Pairs)
	goodPath := writeAdapter(t, "good.gguf", good)
	data, err := os.ReadFile(goodPath)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.gguf")
	if err := os.WriteFile(truncated, data[:len(data)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		is         error
		naming     []string
	}{
		{"other arch", writeAdapter(t, "llama.gguf", otherArch), lora.ErrMismatch, []string{"llama", "qwen2", base, "llama.gguf"}},
		{"other shape", writeAdapter(t, "small.gguf", otherShape), lora.ErrMismatch, []string{"blk.0.attn_q.weight", base, "small.gguf"}},
		{"truncated", truncated, lora.ErrFormat, []string{truncated}},
		{"missing", filepath.Join(t.TempDir(), "none.gguf"), os.ErrNotExist, []string{"none.gguf"}},
		{"embedding", writeAdapter(t, "embd.gguf", embd), nil, []string{"token_embd.weight", "embd.gguf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Load(base, Options{Threads: 1, Context: 64, Adapters: []Adapter{{Path: goodPath, Scale: 1}, {Path: tc.path, Scale: 1}}})
			if err == nil || e != nil {
				if e != nil {
					e.Close()
				}
				t.Fatalf("Load succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want %v", err, tc.is)
			}
			for _, s := range tc.naming {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

// TestMergedAdaptersBypassPackCache: merged weights are neither taken from
// nor written to the pack cache of the base file.
func TestMergedAdaptersBypassPackCache(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 5))
	fallback := t.TempDir()
	adapter := writeAdapter(t, "tuned.gguf", testAdapter(6, 4, 8, allTargets...))
	first := loadCached(t, path, fallback) // writes the base's pack cache
	base := logitsOf(t, first)
	first.Close()
	if _, err := os.Stat(path + ".chatloop-packed"); err != nil {
		t.Fatalf("no pack cache after the first load: %v", err)
	}
	opts := Options{Threads: 1, Context: 64, Adapters: []Adapter{{Path: adapter, Scale: 1}}, MergeAdapters: true}
	plain := loadPath(t, path, opts)
	want := logitsOf(t, plain)
	opts.PackCache, opts.PackCacheDir = true, fallback
	cached := loadPath(t, path, opts)
	if cached.Info().PackCache != "" {
		t.Errorf("merged weights were mapped from the base's pack cache %s", cached.Info().PackCache)
	}
	got := logitsOf(t, cached)
	if maxRelDiff(got, want) != 0 {
		t.Errorf("merged logits with the pack cache on differ by %g", maxRelDiff(got, want))
	}
	if maxRelDiff(base, want) < 1e-2 {
		t.Errorf("the merged adapter hardly changes the logits: the test cannot tell")
	}
}
