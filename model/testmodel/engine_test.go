package testmodel_test

import (
	"context"
	"math"
	"testing"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/testmodel"
)

// TestTinyMixInEngine writes the tiny Q4_K_M-mix model, checks that the
// file holds the types the mix chose, and runs it in the engine beside the
// same weights unquantized (the same seed draws the same values): the
// mix's logits must follow the F32 model's, which they cannot if any of
// its Q4_K, Q6_K, Q5_0 or Q8_0 matrices were read wrongly.
func TestTinyMixInEngine(t *testing.T) {
	spec := testmodel.TinyMix(testmodel.Q4_K_M, 7)
	path := testmodel.Write(t, spec)

	want, err := testmodel.Tensors(spec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[ggml.Type]bool{}
	for _, w := range want {
		got, ok := f.Tensor(w.Name)
		if !ok {
			t.Errorf("%s missing from the file", w.Name)
			continue
		}
		if got.Type != w.Type {
			t.Errorf("%s: type %s in the file, the mix chose %s", w.Name, got.Type, w.Type)
		}
		seen[w.Type] = true
	}
	if ft, _ := f.Uint("general.file_type"); ft != 15 {
		t.Errorf("general.file_type = %d, want 15 (LLAMA_FTYPE_MOSTLY_Q4_K_M)", ft)
	}
	f.Close()
	for _, typ := range []ggml.Type{ggml.Q4_K, ggml.Q6_K, ggml.Q5_0, ggml.Q8_0} {
		if !seen[typ] {
			t.Errorf("the tiny mix has no %s matrix; it should exercise every type of the mix", typ)
		}
	}

	ref := spec
	ref.Mix, ref.Type = nil, ggml.F32 // EmbedQ8 keeps the embedding the same Q8_0
	refPath := testmodel.Write(t, ref)

	mix := load(t, path)
	f32 := load(t, refPath)
	prompt := mix.Tokenize("The capital of France is")
	a, err := mix.Logits(prompt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f32.Logits(prompt)
	if err != nil {
		t.Fatal(err)
	}
	if c := correlation(a, b); c < 0.98 {
		t.Errorf("the mix's logits correlate %.4f with the F32 model's, want ≥ 0.98", c)
	} else {
		t.Logf("logit correlation with the F32 weights: %.4f", c)
	}

	res, err := mix.Generate(context.Background(), model.Request{Raw: "Hello", MaxTokens: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.AnswerTokens == 0 {
		t.Errorf("generated no tokens (stop reason %q)", res.StopReason)
	}
	// general.file_type 15 names the mix; the dominant tensor type, the
	// fallback, would be a plain type name.
	if q := mix.Info().Quantization; q != "Q4_K_M" {
		t.Errorf("engine reports quantization %q, want Q4_K_M (general.file_type 15)", q)
	}
}

func load(t *testing.T, path string) *model.Engine {
	t.Helper()
	e, err := model.Load(path, model.Options{Threads: 2, Context: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func correlation(a, b []float32) float64 {
	var sa, sb, saa, sbb, sab float64
	n := float64(len(a))
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		sa, sb, saa, sbb, sab = sa+x, sb+y, saa+x*x, sbb+y*y, sab+x*y
	}
	cov := sab/n - sa/n*sb/n
	return cov / math.Sqrt((saa/n-sa/n*sa/n)*(sbb/n-sb/n*sb/n))
}
