package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

var (
	tinyModelOnce sync.Once
	tinyModelDir  string // removed by TestMain
	tinyModelPath string
	tinyModelErr  error
)

// tinyModel writes one small qwen2 Q8_0 model with the real Qwen2.5
// vocabulary, shared by the tests of this file.
func tinyModel(t *testing.T) string {
	t.Helper()
	tinyModelOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chatloop-model-test-")
		if err != nil {
			tinyModelErr = err
			return
		}
		tinyModelDir = dir
		tinyModelPath = filepath.Join(dir, "tiny.gguf")
		tinyModelErr = testmodel.WriteFile(tinyModelPath, testmodel.Tiny("qwen2", ggml.Q8_0, 7))
	})
	if tinyModelErr != nil {
		t.Fatal(tinyModelErr)
	}
	return tinyModelPath
}

func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	dir := t.TempDir()
	args = append([]string{"--config", filepath.Join(dir, "none.toml")}, args...)
	// An explicit --config that does not exist is an error; use the
	// default (missing, so built-in defaults) from an empty directory.
	args = args[2:]
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	code := execute(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestModelGenerateRawGreedy(t *testing.T) {
	path := tinyModel(t)
	args := []string{"model", "generate", "--model", path, "--raw", "--temperature", "0", "--max-tokens", "12", "--prompt", "The capital of France is", "--threads", "1"}
	out1, err1, code := run(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, err1)
	}
	if strings.TrimSpace(out1) == "" {
		t.Fatalf("no text generated; stderr: %s", err1)
	}
	if !strings.Contains(err1, "tokens/s") || !strings.Contains(err1, "generation: 12 tokens") {
		t.Errorf("stderr lacks the speed report: %q", err1)
	}
	// Greedy is deterministic; the prompt from stdin gives the same text.
	out2, _, code := run(t, "The capital of France is", "model", "generate", "--model", path, "--raw", "--temperature", "0", "--max-tokens", "12", "--threads", "2")
	if code != 0 || out2 != out1 {
		t.Errorf("stdin prompt, 2 threads: exit %d, got %q, want %q", code, out2, out1)
	}
	// The same seed gives the same sampled text; the chat template is used
	// without --raw.
	sampled := []string{"model", "generate", "--model", path, "--temperature", "1.5", "--seed", "42", "--max-tokens", "16", "--prompt", "hi"}
	a, _, _ := run(t, "", sampled...)
	b, _, _ := run(t, "", sampled...)
	if a != b || a == "" {
		t.Errorf("seed 42 twice: %q vs %q", a, b)
	}
}

func TestModelTokenizeRoundTrip(t *testing.T) {
	path := tinyModel(t)
	text := "Hello, 世界! <|im_end|>\n  tabs\tand spaces"
	out, errOut, code := run(t, text, "model", "tokenize", "--model", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var ids []int
	if err := json.Unmarshal([]byte(out), &ids); err != nil {
		t.Fatalf("not a JSON array: %q", out)
	}
	// Qwen2.5 adds no BOS, and <|im_end|> is one special token (151645).
	if len(ids) == 0 || ids[0] == 151643 {
		t.Errorf("ids %v start with BOS or are empty", ids)
	}
	found := false
	for _, id := range ids {
		found = found || id == 151645
	}
	if !found {
		t.Errorf("ids %v lack <|im_end|> (151645)", ids)
	}
	back, errOut, code := run(t, out, "model", "tokenize", "--model", path, "--detokenize")
	if code != 0 || back != text {
		t.Errorf("detokenize: exit %d (%s), got %q, want %q", code, errOut, back, text)
	}
	if _, errOut, code := run(t, "[1, 999999999]", "model", "tokenize", "--model", path, "--detokenize"); code == 0 || !strings.Contains(errOut, "outside the vocabulary") {
		t.Errorf("bad id: exit %d, stderr %q", code, errOut)
	}
}

func TestModelInfoAndBench(t *testing.T) {
	path := tinyModel(t)
	out, errOut, code := run(t, "", "model", "info", "--model", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"architecture:   qwen2", "Q8_0", "vocabulary:     151936 tokens", "template:       qwen2.5", "context length: 4096", "kernels:        " + ggml.BestKernels().Name()} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
	out, errOut, code = run(t, "", "model", "bench", "--model", path, "--json", "--pp", "16", "--tg", "4", "--repetitions", "1", "--threads", "1")
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, errOut)
	}
	var res struct {
		PP16     float64 `json:"pp16"`
		TG4      float64 `json:"tg4"`
		RSSBytes float64 `json:"rss_bytes"`
		Kernels  string  `json:"kernels"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json: %v: %q", err, out)
	}
	if res.PP16 <= 0 || res.TG4 <= 0 || res.RSSBytes <= 0 || res.Kernels == "" {
		t.Errorf("bench figures: %+v", res)
	}
}

func TestModelCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("not a gguf file at all"), 0o644)
	if _, errOut, code := run(t, "", "model", "info", "--model", bad); code == 0 || errOut == "" {
		t.Errorf("garbage file: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := run(t, "", "model", "generate", "--model", filepath.Join(dir, "missing.gguf"), "--prompt", "x"); code == 0 || !strings.Contains(errOut, "missing.gguf") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}
