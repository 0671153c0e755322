package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/socket"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/lora"
	"github.com/chatloop/chatloop/model/testmodel"
)

// tuneDir makes a working directory whose configuration points at a tiny
// model with flattened logits (so that a regenerated answer differs from
// the first, as a real model's does) and keeps answers short.
func tuneDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec := testmodel.Tiny("qwen2", ggml.Q8_0, 7)
	spec.OutputNormScale = 0.1
	path := filepath.Join(dir, "tiny-flat.gguf")
	if err := testmodel.WriteFile(path, spec); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("[model]\npath = %q\nmax_tokens = 6\nthreads = 1\n", path)
	if err := os.WriteFile(filepath.Join(dir, "chatloop.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTuneEndToEnd closes the loop through the binary: chat, vote,
// regenerate, vote (the database now holds a pair), tune on the
// database, and chat with the adapter.
func TestTuneEndToEnd(t *testing.T) {
	dir := tuneDir(t)
	stdin := "hello\n/good\n/regen\n/bad\nwhat is tea?\n/bad\n/regen\n/good\n"
	out, errOut, code := chatloop(t, dir, stdin, "chat")
	if code != 0 {
		t.Fatalf("chat: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = chatloop(t, dir, "", "feedback", "export", "--format", "preference", "--out", "-")
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Fatalf("export: exit %d, want 2 pairs:\n%s\n%s", code, out, errOut)
	}
	args := []string{"tune", "--db", "chatloop.db", "--out", "tuned.gguf", "--holdout", "0", "--epochs", "4", "--batch", "1",
		"--lr", "0.02", "--rank", "4", "--threads", "1"}
	out, errOut, code = chatloop(t, dir, "", args...)
	if code != 0 {
		t.Fatalf("tune: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("tune: %s", out)
	a, err := lora.Read(filepath.Join(dir, "tuned.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Arch != "qwen2" || len(a.Pairs) != 2*7 || a.Pairs[0].Rank != 4 || a.Alpha != 16 {
		t.Errorf("adapter: arch %s, %d pairs, rank %d, alpha %v; want qwen2, 14, 4, 16", a.Arch, len(a.Pairs), a.Pairs[0].Rank, a.Alpha)
	}
	if _, err := os.Stat(filepath.Join(dir, "tuned.gguf.ckpt")); !os.IsNotExist(err) {
		t.Errorf("the checkpoint is left behind after a finished run: %v", err)
	}
	// The same data and seed give the same adapter, byte for byte.
	args[4] = "again.gguf"
	if _, errOut, code := chatloop(t, dir, "", args...); code != 0 {
		t.Fatalf("tune again: exit %d: %s", code, errOut)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "tuned.gguf"))
	second, _ := os.ReadFile(filepath.Join(dir, "again.gguf"))
	if !bytes.Equal(first, second) {
		t.Errorf("two runs with the same seed wrote different adapters")
	}

	// chat with the adapter: the answer is recorded as the tuned version's
	out, errOut, code = chatloop(t, dir, "", "chat", "--lora", "tuned.gguf", "--once", "hello")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("chat --lora: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, _ = chatloop(t, dir, "", "feedback", "export", "--format", "raw", "--out", "-")
	found := false
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var row struct {
			Model struct {
				Name string `json:"name"`
			} `json:"model"`
		}
		if json.Unmarshal([]byte(line), &row) == nil && strings.Contains(row.Model.Name, "+tuned") {
			found = true
		}
	}
	if !found {
		t.Errorf("no recorded answer names the adapter:\n%s", out)
	}
}

// TestTuneBadInput: a database without pairs, a pair longer than the
// context, an adapter for another base and a truncated adapter are each
// a clear error, and no adapter is written.
func TestTuneBadInput(t *testing.T) {
	dir := tuneDir(t)
	out := filepath.Join(dir, "out.gguf")
	check := func(name, want string, args ...string) {
		t.Helper()
		_, errOut, code := chatloop(t, dir, "", append([]string{"tune", "--out", out, "--threads", "1"}, args...)...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, stderr %q; want an error saying %q", name, code, errOut, want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: %s was written", name, out)
		}
	}
	// a database with a voted answer but no pair
	if _, errOut, code := chatloop(t, dir, "hello\n/good\n", "chat"); code != 0 {
		t.Fatalf("chat: %s", errOut)
	}
	check("no pairs", "no preference pairs", "--db", "chatloop.db")

	// a pair longer than the context (4096 tokens)
	long := filepath.Join(dir, "long.jsonl")
	row := map[string]any{"prompt": []map[string]string{{"role": "user", "content": "Say a lot."}},
		"chosen":   []map[string]string{{"role": "assistant", "content": strings.Repeat("word ", 5000)}},
		"rejected": []map[string]string{{"role": "assistant", "content": "No."}}}
	b, _ := json.Marshal(row)
	if err := os.WriteFile(long, append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	check("too long", "line 1 has a 50", "--data", long)

	short := filepath.Join(dir, "short.jsonl")
	os.WriteFile(short, []byte(`{"prompt":"Hi","chosen":"Hello!","rejected":"Go away."}`+"\n"), 0o600)
	// an adapter made for another base
	llama := tinyAdapter(t, dir, "llama.gguf", "llama", 2)
	check("other base", "llama", "--data", short, "--init", llama)
	// a truncated adapter
	good := tinyAdapter(t, dir, "good.gguf", "qwen2", 3)
	data, _ := os.ReadFile(good)
	trunc := filepath.Join(dir, "trunc.gguf")
	os.WriteFile(trunc, data[:len(data)/2], 0o600)
	check("truncated adapter", "trunc.gguf", "--data", short, "--init", trunc)
	// malformed data
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"prompt":"Hi","chosen":"Hello!"}`+"\n"), 0o600)
	check("malformed data", "line 1", "--data", bad)
}

// TestTuneWhileHeld trains on a database that another process holds (as
// chatloop run does), through its socket.
func TestTuneWhileHeld(t *testing.T) {
	db := feedbackDB(t)
	s, err := feedback.Open(db, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := socket.Serve(ctx, s, db+".sock", nil); err != nil {
			t.Error(err)
		}
	})
	defer wg.Wait()
	defer cancel()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(db + ".sock"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "tuned.gguf")
	stdout, errOut, code := feedbackCLI(t, "tune", "--db", db, "--model", tinyModel(t), "--out", out, "--holdout", "0", "--threads", "1")
	if code != 0 || !strings.Contains(errOut, "via "+db+".sock") {
		t.Fatalf("tune while held: exit %d\nstdout: %s\nstderr: %s", code, stdout, errOut)
	}
	if _, err := lora.Read(out); err != nil {
		t.Error(err)
	}
}
