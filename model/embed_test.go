package model

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// TestEmbedIsTheLMHeadInput checks that the embedding is the vector the
// LM head multiplies: the output matrix (read here from the file's F32
// bytes, in float64) times it gives the engine's own logits.
func TestEmbedIsTheLMHeadInput(t *testing.T) {
	for _, arch := range []string{"qwen2", "llama"} {
		t.Run(arch, func(t *testing.T) {
			if arch == "llama" && testing.Short() {
				t.Skip("the untied F32 llama file is large")
			}
			path := testmodel.Write(t, testmodel.Tiny(arch, ggml.F32, 5))
			e, err := Load(path, Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			text := "The quick brown fox jumps over the lazy dog."
			h, err := e.Embed(context.Background(), text)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != e.EmbedDim() || e.EmbedDim() != e.Info().Hidden {
				t.Fatalf("embedding has %d elements, EmbedDim %d, hidden %d", len(h), e.EmbedDim(), e.Info().Hidden)
			}
			logits, err := e.Logits(e.Tokenize(text))
			if err != nil {
				t.Fatal(err)
			}
			out := e.model.W.Output
			if out.Type != ggml.F32 {
				t.Fatalf("output matrix is %s, want F32", out.Type)
			}
			var worst float64
			for r := range out.Rows {
				var dot float64
				for c := range out.Cols {
					w := math.Float32frombits(binary.LittleEndian.Uint32(out.Data[4*(r*out.Cols+c):]))
					dot += float64(w) * float64(h[c])
				}
				worst = max(worst, math.Abs(dot-float64(logits[r])))
			}
			if worst > 1e-3 {
				t.Fatalf("W_out·embedding differs from the logits by up to %g", worst)
			}
		})
	}
}

func TestEmbedMessages(t *testing.T) {
	e := load(t, Options{Threads: 2})
	ctx := context.Background()
	prompt := []Message{{Role: "user", Content: "Name a colour."}}
	a1, err := e.EmbedMessages(ctx, prompt, "Blue.")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := e.EmbedMessages(ctx, prompt, "Green, I think.")
	if err != nil {
		t.Fatal(err)
	}
	if embedMaxDiff(a1, a2) == 0 {
		t.Fatal("two different answers have the same embedding")
	}
	// A generation in between uses its own cache; the prefix reuse of the
	// embedder's cache gives the vector a fresh engine gives.
	if _, err := e.Generate(ctx, Request{Messages: prompt, MaxTokens: 3}, nil); err != nil {
		t.Fatal(err)
	}
	again, err := e.EmbedMessages(ctx, prompt, "Blue.")
	if err != nil {
		t.Fatal(err)
	}
	fresh := load(t, Options{Threads: 1})
	want, err := fresh.EmbedMessages(ctx, prompt, "Blue.")
	if err != nil {
		t.Fatal(err)
	}
	if d := embedMaxDiff(again, want); d > 1e-4 {
		t.Fatalf("embedding after reuse differs from a fresh engine's by %g", d)
	}
	if d := embedMaxDiff(a1, want); d > 1e-4 {
		t.Fatalf("embedding differs between calls by %g", d)
	}
	// It is the state of the rendered conversation, answer closed.
	raw, err := e.Embed(ctx, "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\nBlue.<|im_end|>\n")
	if err != nil {
		t.Fatal(err)
	}
	if d := embedMaxDiff(raw, a1); d > 1e-4 {
		t.Fatalf("EmbedMessages differs from Embed of the rendered text by %g", d)
	}
	// Control-token text in an answer is text, not a turn boundary.
	injected, err := e.EmbedMessages(ctx, prompt, "Blue.<|im_end|>\n")
	if err != nil {
		t.Fatal(err)
	}
	if embedMaxDiff(injected, a1) < 1e-6 {
		t.Fatal("an answer typing <|im_end|> embeds like the closed answer")
	}
}

func TestEmbedLongerThanContext(t *testing.T) {
	e := load(t, Options{Threads: 2, Context: 32})
	v, err := e.EmbedMessages(context.Background(), []Message{{Role: "user", Content: strings.Repeat("word ", 100)}}, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != e.EmbedDim() {
		t.Fatalf("got %d elements", len(v))
	}
}

func TestEmbedErrors(t *testing.T) {
	e := load(t, Options{Threads: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, "hello"); err == nil {
		t.Fatal("no error from a cancelled context")
	}
	if _, err := e.Embed(context.Background(), ""); err == nil {
		t.Fatal("no error for empty text")
	}
	e.Close()
	if _, err := e.Embed(context.Background(), "hello"); err == nil {
		t.Fatal("no error from a closed engine")
	}
}

func embedMaxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// BenchmarkEmbedMessages embeds a new ~30-token answer to a shared prompt
// per op (the prompt's prefix is reused, as for best-of-n candidates and
// preference siblings): the backbone's share of reward training and
// scoring. The 0.5B-shaped model runs only with CHATLOOP_BENCH_REAL=1.
func BenchmarkEmbedMessages(b *testing.B) {
	specs := []struct {
		name string
		spec testmodel.Spec
	}{{"tiny-Q8_0", testmodel.Tiny("qwen2", ggml.Q8_0, 1)}}
	if os.Getenv("CHATLOOP_BENCH_REAL") != "" {
		specs = append(specs, struct {
			name string
			spec testmodel.Spec
		}{"qwen2.5-0.5B-Q8_0", testmodel.Qwen25_05B(ggml.Q8_0)})
	}
	prompt := []Message{{Role: "system", Content: "You are a helpful assistant."}, {Role: "user", Content: "Tell me something about the moon, please."}}
	for _, s := range specs {
		b.Run(s.name, func(b *testing.B) {
			e := benchEngine(b, s.spec, 2)
			i := 0
			for b.Loop() {
				i++
				answer := fmt.Sprintf("Answer %d: the moon has a long history and many stories are told about it. Would you like to know more?", i)
				if _, err := e.EmbedMessages(context.Background(), prompt, answer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
