package testmodel

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/google/go-cmp/cmp"
)

// TestQ4_K_MRules checks the mix against the rules of llama.cpp's
// llama_tensor_get_type for LLAMA_FTYPE_MOSTLY_Q4_K_M, case by case.
func TestQ4_K_MRules(t *testing.T) {
	for _, tc := range []struct {
		why  string
		m    Matrix
		want ggml.Type
	}{
		{"default", Matrix{Name: "blk.4.attn_q.weight", Layer: 4, Layers: 28, Cols: 1536, Rows: 1536}, ggml.Q4_K},
		{"attn_k default", Matrix{Name: "blk.4.attn_k.weight", Layer: 4, Layers: 28, Cols: 1536, Rows: 256}, ggml.Q4_K},
		{"attn_output default", Matrix{Name: "blk.0.attn_output.weight", Layer: 0, Layers: 28, Cols: 1536, Rows: 1536}, ggml.Q4_K},
		{"ffn_gate: no extra bits even in the first layers", Matrix{Name: "blk.0.ffn_gate.weight", Layer: 0, Layers: 28, Cols: 1536, Rows: 8960}, ggml.Q4_K},
		{"ffn_up default", Matrix{Name: "blk.27.ffn_up.weight", Layer: 27, Layers: 28, Cols: 1536, Rows: 8960}, ggml.Q4_K},
		{"attn_v, first eighth", Matrix{Name: "blk.2.attn_v.weight", Layer: 2, Layers: 28, Cols: 1536, Rows: 256}, ggml.Q6_K},
		{"attn_v, middle, (l-n/8)%3 != 2", Matrix{Name: "blk.3.attn_v.weight", Layer: 3, Layers: 28, Cols: 1536, Rows: 256}, ggml.Q4_K},
		{"attn_v, middle, (l-n/8)%3 == 2", Matrix{Name: "blk.5.attn_v.weight", Layer: 5, Layers: 28, Cols: 1536, Rows: 256}, ggml.Q6_K},
		{"attn_v, last eighth (l >= 7n/8 = 24)", Matrix{Name: "blk.24.attn_v.weight", Layer: 24, Layers: 28, Cols: 1536, Rows: 256}, ggml.Q6_K},
		{"attn_v, just before the last eighth", Matrix{Name: "blk.22.attn_v.weight", Layer: 22, Layers: 28, Cols: 1536, Rows: 256}, ggml.Q4_K},
		{"ffn_down, first eighth", Matrix{Name: "blk.0.ffn_down.weight", Layer: 0, Layers: 28, Cols: 8960, Rows: 1536}, ggml.Q6_K},
		{"ffn_down, middle, no extra bits", Matrix{Name: "blk.4.ffn_down.weight", Layer: 4, Layers: 28, Cols: 8960, Rows: 1536}, ggml.Q4_K},
		{"ffn_down, every third", Matrix{Name: "blk.23.ffn_down.weight", Layer: 23, Layers: 28, Cols: 8960, Rows: 1536}, ggml.Q6_K},
		{"tied token_embd is the output: Q6_K", Matrix{Name: "token_embd.weight", Layer: -1, Layers: 28, Cols: 1536, Rows: 151936, Tied: true}, ggml.Q6_K},
		{"untied token_embd: the default", Matrix{Name: "token_embd.weight", Layer: -1, Layers: 32, Cols: 4096, Rows: 128256}, ggml.Q4_K},
		{"output.weight", Matrix{Name: "output.weight", Layer: -1, Layers: 32, Cols: 4096, Rows: 128256}, ggml.Q6_K},
		// Rows of 896 (Qwen2.5-0.5B): the output rule's own check, then
		// the shape fallback.
		{"output rows of 896: Q8_0", Matrix{Name: "output.weight", Layer: -1, Layers: 24, Cols: 896, Rows: 151936}, ggml.Q8_0},
		{"tied token_embd rows of 896: Q8_0", Matrix{Name: "token_embd.weight", Layer: -1, Layers: 24, Cols: 896, Rows: 151936, Tied: true}, ggml.Q8_0},
		{"untied token_embd rows of 896: Q4_K falls back to Q5_0", Matrix{Name: "token_embd.weight", Layer: -1, Layers: 24, Cols: 896, Rows: 151936}, ggml.Q5_0},
		{"attn_q rows of 896: Q5_0", Matrix{Name: "blk.7.attn_q.weight", Layer: 7, Layers: 24, Cols: 896, Rows: 896}, ggml.Q5_0},
		{"attn_v with extra bits, rows of 896: Q6_K falls back to Q8_0", Matrix{Name: "blk.0.attn_v.weight", Layer: 0, Layers: 24, Cols: 896, Rows: 128}, ggml.Q8_0},
		{"attn_v without, rows of 896: Q5_0", Matrix{Name: "blk.3.attn_v.weight", Layer: 3, Layers: 24, Cols: 896, Rows: 128}, ggml.Q5_0},
		{"ffn_down rows of 4864 = 19×256 stay K-quants", Matrix{Name: "blk.3.ffn_down.weight", Layer: 3, Layers: 24, Cols: 4864, Rows: 896}, ggml.Q4_K},
		{"ffn_down rows of 4864, extra bits", Matrix{Name: "blk.23.ffn_down.weight", Layer: 23, Layers: 24, Cols: 4864, Rows: 896}, ggml.Q6_K},
		{"rows not even a multiple of 32: F16", Matrix{Name: "blk.3.ffn_up.weight", Layer: 3, Layers: 24, Cols: 100, Rows: 64}, ggml.F16},
		{"output rows not a multiple of 32: F16", Matrix{Name: "output.weight", Layer: -1, Layers: 24, Cols: 100, Rows: 64}, ggml.F16},
	} {
		if got := Q4_K_M.TypeOf(tc.m); got != tc.want {
			t.Errorf("%s: %s → %s, want %s", tc.why, tc.m.Name, got, tc.want)
		}
	}
}

// TestUseMoreBits lists the layers that get extra bits, worked out by hand
// from i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
func TestUseMoreBits(t *testing.T) {
	for _, tc := range []struct {
		layers int
		want   []int
	}{
		{2, []int{1}}, // n/8 = 0, 7n/8 = 1
		{8, []int{0, 3, 6, 7}},
		{24, []int{0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23}},
		{28, []int{0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27}},
	} {
		var got []int
		for l := range tc.layers {
			if useMoreBits(l, tc.layers) {
				got = append(got, l)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%d layers (-want +got):\n%s", tc.layers, diff)
		}
	}
}

func TestFallback(t *testing.T) {
	for _, tc := range []struct {
		t    ggml.Type
		cols int
		want ggml.Type
	}{
		{ggml.Q4_K, 512, ggml.Q4_K},
		{ggml.Q4_K, 896, ggml.Q5_0},
		{ggml.Q5_K, 896, ggml.Q5_1},
		{ggml.Q6_K, 896, ggml.Q8_0},
		{ggml.Q2_K, 896, ggml.Q4_0},
		{ggml.Q3_K, 896, ggml.Q4_0},
		{ggml.Q8_0, 896, ggml.Q8_0},
		{ggml.Q8_0, 100, ggml.F16},
		{ggml.Q6_K, 100, ggml.F16},
		{ggml.F32, 7, ggml.F32},
	} {
		if got := fallback(tc.t, tc.cols); got != tc.want {
			t.Errorf("fallback(%s, %d) = %s, want %s", tc.t, tc.cols, got, tc.want)
		}
	}
}

// TestQwenMixCounts checks the per-type tensor counts of the mix on the
// real Qwen2.5 shapes. The 0.5B counts are those llama.cpp printed loading
// a published Qwen2.5-0.5B Q4_K_M (ollama/ollama#9031: f32 121, q5_0 132,
// q8_0 13, q4_K 12, q6_K 12); the 1.5B ones follow from the rules (7
// matrices × 28 layers + token_embd; attn_v and ffn_down get Q6_K in the
// 14 layers use_more_bits picks, token_embd is tied).
func TestQwenMixCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want map[string]int
	}{
		{"qwen2.5-0.5b", Qwen25_05B(ggml.Q4_K), map[string]int{"F32": 121, "Q5_0": 132, "Q8_0": 13, "Q4_K": 12, "Q6_K": 12}},
		{"qwen2.5-1.5b", Qwen25_15B(ggml.Q4_K), map[string]int{"F32": 141, "Q4_K": 168, "Q6_K": 29}},
	} {
		tc.spec.Mix = &Q4_K_M
		ts, err := Tensors(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, CountTypes(ts)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestUniformTypeMustFitRows(t *testing.T) {
	_, err := Tensors(Qwen25_05B(ggml.Q4_K))
	if !errors.Is(err, ErrShape) {
		t.Fatalf("Q4_K on rows of 896: got %v, want ErrShape", err)
	}
	if err := WriteFile(t.TempDir()+"/x.gguf", Qwen25_05B(ggml.Q6_K)); !errors.Is(err, ErrShape) {
		t.Fatalf("WriteFile: got %v, want ErrShape", err)
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("q4_k_m")
	if err != nil || m.Name != "Q4_K_M" || m.FileType != 15 {
		t.Fatalf("ParseMix(q4_k_m) = %+v, %v", m, err)
	}
	if _, err := ParseMix("Q3_K_XL"); err == nil {
		t.Fatal("ParseMix(Q3_K_XL): no error")
	}
}

// TestQuantizeRows checks that quantizing in parallel by rows gives the
// bytes of one ggml.Quantize call, splitting into as many goroutines as
// the test asks for whatever GOMAXPROCS is (uneven runs, an empty last
// run, one row per worker), and that quantizeRows itself agrees on a
// tensor large enough to split on a machine with several CPUs.
func TestQuantizeRows(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const cols = 512
	vals := make([]float32, cols*2100)
	for i := range vals {
		vals[i] = float32(r.NormFloat64())
	}
	for _, typ := range []ggml.Type{ggml.Q4_K, ggml.Q5_0} {
		for _, tc := range []struct{ rows, workers int }{{100, 2}, {100, 3}, {100, 7}, {9, 4}, {4, 4}, {3, 4}, {2100, 1}} {
			v := vals[:tc.rows*cols]
			want, err := ggml.Quantize(typ, v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := quantizeSplit(typ, v, cols, tc.workers)
			if err != nil {
				t.Fatalf("%s, %d rows in %d workers: %v", typ, tc.rows, tc.workers, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s, %d rows in %d workers: %d bytes differ from ggml.Quantize's %d", typ, tc.rows, tc.workers, len(got), len(want))
			}
		}
		want, err := ggml.Quantize(typ, vals)
		if err != nil {
			t.Fatal(err)
		}
		got, err := quantizeRows(typ, vals, cols)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: quantizeRows differs from ggml.Quantize", typ)
		}
	}
}

// TestQuantizeSplitErrors checks that a split quantization fails as one
// call does: rows that are not whole blocks, and values that are not
// whole rows (which it must not drop).
func TestQuantizeSplitErrors(t *testing.T) {
	vals := make([]float32, 100*8)
	if _, err := quantizeSplit(ggml.Q4_K, vals, 100, 4); !errors.Is(err, ggml.ErrSize) {
		t.Errorf("rows of 100 in Q4_K: got %v, want ggml.ErrSize", err)
	}
	if _, err := quantizeSplit(ggml.Q4_K, make([]float32, 256*8+32), 256, 4); !errors.Is(err, ggml.ErrSize) {
		t.Errorf("8 rows of 256 and 32 more values: got %v, want ggml.ErrSize", err)
	}
}

func TestLayerOf(t *testing.T) {
	for name, want := range map[string]int{"blk.0.attn_q.weight": 0, "blk.27.ffn_down.weight": 27, "token_embd.weight": -1, "blk.x.y": -1, "blk.3": -1} {
		if got := layerOf(name); got != want {
			t.Errorf("layerOf(%q) = %d, want %d", name, got, want)
		}
	}
}
