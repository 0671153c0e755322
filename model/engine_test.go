package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

var shared struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedModel is one tiny qwen2 Q8_0 model with the real Qwen2.5
// vocabulary, written once for the tests that only need some model.
func sharedModel(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "chatloop-engine-test-")
		if shared.err == nil {
			shared.path = filepath.Join(shared.dir, "qwen2-q8_0.gguf")
			shared.err = testmodel.WriteFile(shared.path, testmodel.Tiny("qwen2", ggml.Q8_0, 11))
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.path
}

func load(t *testing.T, opts Options) *Engine {
	t.Helper()
	e, err := Load(sharedModel(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestInfo(t *testing.T) {
	e := load(t, Options{Threads: 1, Context: 256})
	i := e.Info()
	if i.Arch != "qwen2" || i.VocabSize != 151936 || i.Template != "qwen2.5" || i.Quantization != "Q8_0" || i.ContextLength != 4096 {
		t.Errorf("info %+v", i)
	}
	// 2 layers of hidden 64, ffn 128, 4 heads of 16, 2 kv heads, tied
	// embeddings of 151936 rows, with biases and norms.
	want := int64(151936*64 + 64 + 2*(64+64*64+2*32*64+64*64+64+3*128*64+64+32+32))
	if i.Params != want {
		t.Errorf("params: got %d, want %d", i.Params, want)
	}
	if i.TensorTypes["Q8_0"] != 1+2*7 || i.TensorTypes["F32"] != 1+2*5 {
		t.Errorf("tensor types %v", i.TensorTypes)
	}
	sum, err := e.FileSHA256()
	if err != nil || sum != fileSHA(t, sharedModel(t)) {
		t.Errorf("FileSHA256: %q, %v", sum, err)
	}
	if e.ContextSize() != 256 {
		t.Errorf("context size %d, want 256", e.ContextSize())
	}
	if i.Kernels != ggml.BestKernels().Name() {
		t.Errorf("kernels %q, want this CPU's best set %q", i.Kernels, ggml.BestKernels().Name())
	}
}

func TestGenerateStopsAndStreams(t *testing.T) {
	e := load(t, Options{Threads: 2, Context: 256})
	ctx := context.Background()
	var pieces []string
	res, err := e.Generate(ctx, Request{Raw: "Once upon a time", MaxTokens: 20}, func(s string) { pieces = append(pieces, s) })
	if err != nil {
		t.Fatal(err)
	}
	if res.StopReason != StopLength && res.StopReason != StopEOG {
		t.Fatalf("stop reason %q", res.StopReason)
	}
	if strings.Join(pieces, "") != res.Text {
		t.Errorf("streamed %q, result %q", strings.Join(pieces, ""), res.Text)
	}
	if res.StopReason == StopLength && (res.AnswerTokens != 20 || !res.Truncated) {
		t.Errorf("length stop: %d tokens, truncated %v", res.AnswerTokens, res.Truncated)
	}
	if res.PromptTokens != len(e.Tokenize("Once upon a time")) {
		t.Errorf("prompt tokens %d", res.PromptTokens)
	}
	if len(res.Text) < 3 {
		t.Fatalf("answer too short to test stop strings: %q", res.Text)
	}

	// A stop string taken from the middle of the greedy answer cuts it
	// there, and is not shown.
	stop := res.Text[len(res.Text)/2:][:2]
	cut := res.Text[:strings.Index(res.Text, stop)]
	var shown strings.Builder
	res2, err := e.Generate(ctx, Request{Raw: "Once upon a time", MaxTokens: 20, Stop: []string{stop}}, func(s string) { shown.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	if res2.StopReason != StopString || res2.Text != cut || shown.String() != cut {
		t.Errorf("stop %q: reason %q, text %q, shown %q, want %q", stop, res2.StopReason, res2.Text, shown.String(), cut)
	}
	// The second request shared its prompt with the first: the cache was
	// reused, and the answer is the same as from a fresh engine.
	if res2.CachedTokens == 0 {
		t.Errorf("no cached tokens reused")
	}
}

func TestPrefixReuseGivesSameAnswer(t *testing.T) {
	e := load(t, Options{Threads: 1, Context: 256})
	ctx := context.Background()
	req := Request{Messages: []Message{{Role: "user", Content: "hello there"}}, MaxTokens: 10}
	first, err := e.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Messages = append(req.Messages, Message{Role: "assistant", Content: first.Text}, Message{Role: "user", Content: "and again"})
	cont, err := e.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cont.CachedTokens == 0 {
		t.Error("the follow-up reused no cached tokens")
	}
	fresh := load(t, Options{Threads: 1, Context: 256})
	want, err := fresh.Generate(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cont.Text != want.Text {
		t.Errorf("with cache reuse %q, fresh %q", cont.Text, want.Text)
	}
}

func TestContextLimits(t *testing.T) {
	e := load(t, Options{Threads: 1, Context: 32})
	ctx := context.Background()
	long := strings.Repeat("word ", 40)
	_, err := e.Generate(ctx, Request{Raw: long, MaxTokens: 5}, nil)
	if !errors.Is(err, ErrContextFull) {
		t.Fatalf("40-token prompt in a 32-token window: got %v, want ErrContextFull", err)
	}
	res, err := e.Generate(ctx, Request{Raw: strings.Repeat("word ", 20)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StopReason == StopContext {
		if !res.Truncated || res.PromptTokens+res.AnswerTokens != 33 { // the last token needs no cache slot
			t.Errorf("context stop: truncated %v, %d+%d tokens, want 33", res.Truncated, res.PromptTokens, res.AnswerTokens)
		}
	} else if res.StopReason != StopEOG {
		t.Errorf("stop reason %q, want context (or eog)", res.StopReason)
	}
	// The engine still works after the refusal.
	if _, err := e.Generate(ctx, Request{Raw: "short", MaxTokens: 2}, nil); err != nil {
		t.Errorf("after a full context: %v", err)
	}
}

func TestCancelAndConcurrency(t *testing.T) {
	e := load(t, Options{Threads: 1, Context: 256})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err := e.Generate(ctx, Request{Raw: "count", MaxTokens: 100}, func(string) {
		n++
		if n == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || res.StopReason != StopCancelled || !res.Truncated {
		t.Errorf("cancelled: err %v, reason %q", err, res.StopReason)
	}
	if res.AnswerTokens > 10 {
		t.Errorf("%d tokens after cancelling at the third piece", res.AnswerTokens)
	}

	// Concurrent callers are decoded together and each gets the same
	// greedy answer as alone.
	want, err := e.Generate(context.Background(), Request{Raw: "parallel", MaxTokens: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := "parallel"
			if i%2 == 1 {
				raw = "something else entirely"
			}
			got, err := e.Generate(context.Background(), Request{Raw: raw, MaxTokens: 8}, nil)
			if err != nil {
				errs <- err
			} else if i%2 == 0 && got.Text != want.Text {
				errs <- errors.New("concurrent answer " + got.Text + " differs from " + want.Text)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLoadRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.gguf"), Options{}); err == nil {
		t.Error("missing file: no error")
	}
	junk := filepath.Join(dir, "junk.gguf")
	os.WriteFile(junk, []byte("GGUF but not really"), 0o644)
	if _, err := Load(junk, Options{}); err == nil {
		t.Error("junk file: no error")
	}
}

func TestUnsupportedRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec testmodel.Spec
		want []string
	}{
		{"architecture", testmodel.Spec{Arch: "gpt2", Type: ggml.Q8_0, Layers: 1, Hidden: 64, Heads: 4, KVHeads: 4, FFN: 64},
			[]string{"gpt2", "llama, qwen2, qwen3"}},
		{"tensor type", testmodel.Spec{Arch: "qwen2", Type: ggml.Q2_K, Layers: 1, Hidden: 256, Heads: 4, KVHeads: 4, FFN: 256, EmbedQ8: true},
			// In ggml's type-number order, the order of its per-type records.
			[]string{"type Q2_K;", "chatloop reads F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(testmodel.Write(t, tc.spec), Options{Threads: 1, Context: 64})
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("got %v, want ErrUnsupported", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
