package model

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// TestInfoJSON is issue 15's item 11 for `model info --json`: snake_case
// keys, the file's real size and the engine's context window.
func TestInfoJSON(t *testing.T) {
	path := testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 1))
	e, err := Load(path, Options{Context: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(e.Info())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"arch", "name", "params", "tensor_types", "context_length", "context", "template", "vocab_size", "quantization", "file_size", "layers", "hidden", "heads", "kv_heads", "ffn"} {
		if _, ok := got[key]; !ok {
			t.Errorf("key %q missing from %s", key, b)
		}
	}
	if size, _ := got["file_size"].(float64); int64(size) != st.Size() {
		t.Errorf("file_size %v, want %d", got["file_size"], st.Size())
	}
	if ctx, _ := got["context"].(float64); int(ctx) != 256 || e.ContextSize() != 256 {
		t.Errorf("context %v (engine %d), want 256", got["context"], e.ContextSize())
	}
}
