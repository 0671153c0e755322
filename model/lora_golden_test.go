package model

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/lora"
	"github.com/chatloop/chatloop/model/testmodel"
)

var loraGoldenDir = flag.String("lora-golden-models", "", "write the LoRA golden models, adapters and manifest.json to this directory (for scripts/reference/lora-golden.mjs)")

// loraGoldenAdapter is one adapter of a LoRA golden case, generated from a
// seed for the case's base.
type loraGoldenAdapter struct {
	Seed    uint64
	Rank    int
	Alpha   float32
	Scale   float32
	Targets []string  // block tensors ("attn_q") and whole names ("output.weight")
	Type    ggml.Type // of the stored A and B: F32 as lora.Write writes, F16 as convert_lora_to_gguf.py does
}

type loraGoldenCase struct {
	Name     string
	Base     testmodel.Spec
	Adapters []loraGoldenAdapter
}

var allBlockTargets = []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

// loraGoldenCases: an F32 base (results identical to llama.cpp's), a
// quantized one with a scale, an untied llama with the output adapted and
// alpha 0 (llama.cpp then applies the scale alone), and two adapters
// stacked, one stored in F16 the way llama.cpp's converter writes PEFT
// adapters.
func loraGoldenCases() []loraGoldenCase {
	return []loraGoldenCase{
		{"qwen2-F32", testmodel.Tiny("qwen2", ggml.F32, 201), []loraGoldenAdapter{{Seed: 1, Rank: 8, Alpha: 16, Scale: 1, Targets: allBlockTargets, Type: ggml.F32}}},
		{"qwen2-Q8_0", testmodel.Tiny("qwen2", ggml.Q8_0, 202), []loraGoldenAdapter{{Seed: 2, Rank: 4, Alpha: 8, Scale: 0.5, Targets: allBlockTargets, Type: ggml.F32}}},
		{"llama-Q4_K", testmodel.Tiny("llama", ggml.Q4_K, 203), []loraGoldenAdapter{{Seed: 3, Rank: 8, Alpha: 0, Scale: 0.25, Targets: []string{"attn_q", "attn_v", "ffn_down", "output.weight"}, Type: ggml.F32}}},
		{"qwen3-F16", testmodel.Tiny("qwen3", ggml.F16, 204), []loraGoldenAdapter{
			{Seed: 4, Rank: 8, Alpha: 16, Scale: 1, Targets: []string{"attn_q", "attn_k", "attn_output"}, Type: ggml.F32},
			{Seed: 5, Rank: 16, Alpha: 32, Scale: 0.75, Targets: []string{"ffn_gate", "ffn_up", "ffn_down"}, Type: ggml.F16},
		}},
	}
}

// loraGoldenPrompt is the prompt of every case, and loraGoldenAnswer the
// answer whose log-probability after it is compared.
func loraGoldenPrompt(arch string) string {
	name := "chatml"
	if arch == "llama" {
		name = "llama3"
	}
	t, _ := chat.ByName(name)
	return t.Render([]chat.Message{{Role: "user", Content: "What is the capital of France?"}}, true)
}

const loraGoldenAnswer = "The capital of France is Paris, a city on the Seine."

// writeGoldenAdapter writes the adapter g for the base file at basePath:
// A and B normal with a spread large enough that the adapter changes the
// model's answers.
func writeGoldenAdapter(t *testing.T, basePath, path string, g loraGoldenAdapter) {
	t.Helper()
	f, err := gguf.Open(basePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(g.Seed, 99))
	a := &lora.Adapter{Arch: f.Architecture(), Alpha: g.Alpha, Name: "golden"}
	for _, ti := range f.Tensors {
		match := false
		for _, tg := range g.Targets {
			match = match || ti.Name == tg || strings.HasPrefix(ti.Name, "blk.") && strings.HasSuffix(ti.Name, "."+tg+".weight")
		}
		if !match {
			continue
		}
		p := &lora.Pair{Name: ti.Name, In: int(ti.Dims[0]), Out: int(ti.Dims[1]), Rank: g.Rank}
		p.A, p.B = make([]float32, p.Rank*p.In), make([]float32, p.Out*p.Rank)
		// Δ = factor·B·A has entries of about factor·√rank·σA·σB.
		factor := float64(g.Scale)
		if g.Alpha != 0 {
			factor *= float64(g.Alpha) / float64(g.Rank)
		}
		sigma := math.Sqrt(loraGoldenDelta / (math.Sqrt(float64(g.Rank)) * factor))
		for i := range p.A {
			p.A[i] = float32(rng.NormFloat64() * sigma)
		}
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64() * sigma)
		}
		a.Pairs = append(a.Pairs, p)
	}
	slices.SortFunc(a.Pairs, func(x, y *lora.Pair) int { return strings.Compare(x.Name, y.Name) })
	if len(a.Pairs) == 0 {
		t.Fatalf("no tensor of %s matches %v", basePath, g.Targets)
	}
	if g.Type == ggml.F32 {
		if err := lora.Write(path, a); err != nil {
			t.Fatal(err)
		}
		return
	}
	// As convert_lora_to_gguf.py writes it: its metadata, and the
	// matrices in g.Type.
	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", a.Arch)
	w.SetString("general.type", "adapter")
	w.SetString("general.name", "Golden Peft")
	w.SetUint32("general.file_type", 1)
	w.SetUint32("general.quantization_version", 2)
	w.SetString("adapter.type", "lora")
	w.SetFloat32("adapter.lora.alpha", a.Alpha)
	for _, p := range a.Pairs {
		if err := w.AddFloats(p.Name+".lora_a", g.Type, []uint64{uint64(p.In), uint64(p.Rank)}, p.A); err != nil {
			t.Fatal(err)
		}
		if err := w.AddFloats(p.Name+".lora_b", g.Type, []uint64{uint64(p.Rank), uint64(p.Out)}, p.B); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// writeLoRAGoldenCase writes a case's base and adapters into dir and
// returns the base's path and the engine's adapter options.
func writeLoRAGoldenCase(t *testing.T, dir string, c loraGoldenCase) (string, []Adapter) {
	t.Helper()
	base := filepath.Join(dir, c.Name+".gguf")
	if err := testmodel.WriteFile(base, c.Base); err != nil {
		t.Fatal(err)
	}
	var ads []Adapter
	for i, g := range c.Adapters {
		p := filepath.Join(dir, fmt.Sprintf("%s-lora%d.gguf", c.Name, i))
		writeGoldenAdapter(t, base, p, g)
		ads = append(ads, Adapter{Path: p, Scale: g.Scale})
	}
	return base, ads
}

type loraGoldenFile struct {
	Steps int `json:"steps"`
	Cases []struct {
		Name     string `json:"name"`
		SHA256   string `json:"sha256"` // weightsSHA of the base
		Adapters []struct {
			SHA256 string  `json:"sha256"` // weightsSHA of the adapter
			Scale  float32 `json:"scale"`
		} `json:"adapters"`
		Prompt       []int32      `json:"prompt"`
		Greedy       []int        `json:"greedy"`
		TopLogits    [][2]float64 `json:"top_logits"`
		Answer       []int32      `json:"answer"`
		AnswerLogP   float64      `json:"answer_logprob"`
		BaseGreedy   []int        `json:"base_greedy"`
		BaseAnswerLP float64      `json:"base_answer_logprob"`
	} `json:"cases"`
}

// TestWriteLoRAGoldenModels writes the bases, adapters and manifest for
// scripts/reference/lora-golden.mjs; it is skipped unless
// -lora-golden-models is given.
func TestWriteLoRAGoldenModels(t *testing.T) {
	if *loraGoldenDir == "" {
		t.Skip("run by scripts/reference/lora-golden.sh with -lora-golden-models DIR")
	}
	type adapterEntry struct {
		File   string  `json:"file"`
		SHA256 string  `json:"sha256"`
		Scale  float32 `json:"scale"`
	}
	type entry struct {
		Name     string         `json:"name"`
		File     string         `json:"file"`
		SHA256   string         `json:"sha256"`
		Adapters []adapterEntry `json:"adapters"`
		Prompt   string         `json:"prompt"`
		Answer   []int32        `json:"answer"`
	}
	var manifest struct {
		Cases []entry `json:"cases"`
	}
	for _, c := range loraGoldenCases() {
		base, ads := writeLoRAGoldenCase(t, *loraGoldenDir, c)
		e, err := Load(base, Options{Threads: 1, Context: 64, Repack: RepackOff})
		if err != nil {
			t.Fatal(err)
		}
		answer := e.tok.Tokenize(loraGoldenAnswer, false, false)
		e.Close()
		en := entry{Name: c.Name, File: filepath.Base(base), SHA256: weightsSHA(t, base), Prompt: loraGoldenPrompt(c.Base.Arch), Answer: answer}
		for _, a := range ads {
			en.Adapters = append(en.Adapters, adapterEntry{File: filepath.Base(a.Path), SHA256: weightsSHA(t, a.Path), Scale: a.Scale})
		}
		manifest.Cases = append(manifest.Cases, en)
	}
	b, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*loraGoldenDir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// answerLogProb is the log-probability the engine gives answer after
// prompt: the sum of each answer token's log-softmax, from an empty cache.
func answerLogProb(t *testing.T, e *Engine, prompt, answer []int32) float64 {
	t.Helper()
	if _, err := e.Logits(prompt); err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i, tok := range answer {
		sum += logSoftmax(e.logits, int(tok))
		if i == len(answer)-1 {
			break
		}
		if err := e.forward1([]int{int(tok)}, e.cache, e.logits); err != nil {
			t.Fatal(err)
		}
	}
	return sum
}

func logSoftmax(logits []float32, tok int) float64 {
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l) - m)
	}
	return float64(logits[tok]) - m - math.Log(z)
}

// TestLoRAAgainstLlamaCpp runs each case's base with its adapters (the
// side path and, for the F32 base, merged) and checks the greedy
// continuation, the logits after the prompt and the log-probability of a
// fixed answer against llama.cpp's with the same adapters
// (node-llama-cpp's lora option), and that the adapters matter: llama.cpp's
// answers without them differ.
func TestLoRAAgainstLlamaCpp(t *testing.T) {
	b, err := os.ReadFile("testdata/lora-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden loraGoldenFile
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	cases := map[string]loraGoldenCase{}
	for _, c := range loraGoldenCases() {
		cases[c.Name] = c
	}
	if len(golden.Cases) != len(cases) {
		t.Errorf("the fixture has %d cases, the test %d: regenerate it", len(golden.Cases), len(cases))
	}
	for _, g := range golden.Cases {
		t.Run(g.Name, func(t *testing.T) {
			c, ok := cases[g.Name]
			if !ok {
				t.Fatalf("no case %s", g.Name)
			}
			if testing.Short() && c.Base.Type.BlockSize() == ggml.QK_K {
				t.Skip("-short: the K-quant base is the slowest to write")
			}
			base, ads := writeLoRAGoldenCase(t, t.TempDir(), c)
			if got := weightsSHA(t, base); got != g.SHA256 {
				t.Fatalf("the base differs from the one llama.cpp ran: regenerate the fixture")
			}
			for i, a := range ads {
				if got := weightsSHA(t, a.Path); got != g.Adapters[i].SHA256 || a.Scale != g.Adapters[i].Scale {
					t.Fatalf("adapter %d differs from the one llama.cpp ran: regenerate the fixture", i)
				}
			}
			if slices.Equal(g.Greedy, g.BaseGreedy) || math.Abs(g.AnswerLogP-g.BaseAnswerLP) < 0.5 {
				t.Fatalf("in llama.cpp the adapters hardly change the answers (greedy %v, base %v; log p %.3f, base %.3f): the case proves nothing",
					g.Greedy, g.BaseGreedy, g.AnswerLogP, g.BaseAnswerLP)
			}
			modes := []bool{false}
			if c.Base.Type == ggml.F32 {
				modes = append(modes, true) // merging is exact up to float32 rounding only on F32
			}
			for _, merge := range modes {
				e, err := Load(base, Options{Threads: 1, Context: 256, Adapters: ads, MergeAdapters: merge})
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				if got := e.Tokenize(loraGoldenPrompt(c.Base.Arch)); !slices.Equal(got, g.Prompt) {
					t.Fatalf("prompt tokens %v, llama.cpp %v", got, g.Prompt)
				}
				got, gaps, logits := greedy(t, e, g.Prompt, len(g.Greedy))
				// The side path computes as ggml does: identical logits and
				// continuation, log p(answer) within 1e-3 (the fixture's is
				// summed in JavaScript). Merged weights, W+Δ rounded to
				// float32 once, move the logits by a few 1e-4.
				tol, lpTol := 0.0, 1e-3
				if merge {
					tol, lpTol = 1e-3, 1e-2
				}
				maxDiff := 0.0
				for _, tl := range g.TopLogits {
					maxDiff = math.Max(maxDiff, math.Abs(float64(logits[int(tl[0])])-tl[1]))
				}
				if maxDiff > tol {
					t.Errorf("merge %v: logits after the prompt differ from llama.cpp's by up to %.3g (tolerance %g)", merge, maxDiff, tol)
				}
				if !slices.Equal(got, g.Greedy) {
					div := 0
					for got[div] == g.Greedy[div] {
						div++
					}
					t.Errorf("merge %v: greedy continuation parts from llama.cpp's at step %d (our top-2 gap there %.3g)\n got %v\nwant %v", merge, div, gaps[div], got, g.Greedy)
				}
				lp := answerLogProb(t, e, g.Prompt, g.Answer)
				if d := math.Abs(lp - g.AnswerLogP); d > lpTol {
					t.Errorf("merge %v: log p(answer) = %.5f, llama.cpp %.5f (difference %.2g > %g)", merge, lp, g.AnswerLogP, d, lpTol)
				}
				t.Logf("merge %v: max logit difference %.2g; log p(answer) %.5f vs llama.cpp %.5f (base %.5f)", merge, maxDiff, lp, g.AnswerLogP, g.BaseAnswerLP)
			}
		})
	}
}

// loraGoldenDelta is the typical size of an entry of a golden adapter's
// update (the bases' weights have a spread of 0.02): large enough that
// every case's greedy continuation changes from the base's from the
// first token on, so the comparison exercises the adapters.
const loraGoldenDelta = 0.2
