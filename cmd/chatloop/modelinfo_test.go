package main

import (
	"encoding/json"
	"os"
	"testing"
)

// TestModelInfoJSON: `model info --json` has snake_case keys, the file's
// real size and the engine's context window.
func TestModelInfoJSON(t *testing.T) {
	path := tinyModel(t)
	out, errOut, code := run(t, "", "model", "info", "--model", path, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Arch          string `json:"arch"`
		FileSize      int64  `json:"file_size"`
		Context       int    `json:"context"`
		ContextLength int    `json:"context_length"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != "qwen2" || got.FileSize != st.Size() || got.Context != 4096 || got.ContextLength != 4096 {
		t.Errorf("got %+v, want arch qwen2, file_size %d, context 4096, context_length 4096:\n%s", got, st.Size(), out)
	}
}
