package model

import (
	"errors"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/internal/vocabdata"
	"github.com/chatloop/chatloop/model/testmodel"
)

// Two families registered the way model/arch/<family>.go registers one:
// adding a Llama-like architecture is this init function in a file of its
// own. The second renames a tensor to show that the loader reads the names
// a family registers.
func init() {
	arch.Register(arch.Family{
		Name: "chatloop-llamalike", Tensors: arch.LlamaTensors,
		Keys: arch.LlamaKeys("chatloop-llamalike"), Template: "llama3",
	})
	renamed := arch.LlamaTensors
	renamed.FFNDown = "ffn_out.weight"
	arch.Register(arch.Family{
		Name: "chatloop-renamed", Tensors: renamed,
		Keys: arch.LlamaKeys("chatloop-renamed"), Template: "chatml",
	})
}

// noTemplate is the Qwen2 vocabulary without tokenizer.chat_template, so
// that the engine falls back on the family's template.
func noTemplate() (*vocabdata.Vocab, error) {
	v, err := vocabdata.Qwen2()
	if err != nil {
		return nil, err
	}
	c := *v
	c.ChatTemplate = ""
	return &c, nil
}

func TestFamilyRegisteredInOneFile(t *testing.T) {
	s := testmodel.Tiny("chatloop-llamalike", ggml.Q8_0, 3)
	s.Vocab = noTemplate
	e, err := Load(testmodel.Write(t, s), Options{Threads: 2, Context: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.Info().Arch; got != "chatloop-llamalike" {
		t.Errorf("arch %q, want chatloop-llamalike", got)
	}
	if got := e.Info().Template; got != "llama3" {
		t.Errorf("template %q, want the family's fallback llama3", got)
	}
	if e.model.Config.Family.RopeNeox || e.model.Config.Family.QKNorm {
		t.Errorf("family switches %+v, want Llama's (none)", e.model.Config.Family)
	}
	logits, err := e.Logits(e.Tokenize("Hello there"))
	if err != nil {
		t.Fatal(err)
	}
	var nonzero bool
	for _, l := range logits {
		nonzero = nonzero || l != 0
	}
	if !nonzero {
		t.Error("all logits are zero")
	}

	// the same file under a family that names ffn_down otherwise
	s.Arch = "chatloop-renamed"
	_, err = Load(testmodel.Write(t, s), Options{Threads: 2, Context: 64})
	if !errors.Is(err, arch.ErrBadModel) || !strings.Contains(err.Error(), "blk.0.ffn_out.weight is missing") {
		t.Errorf("loading with a renamed tensor: got %v, want blk.0.ffn_out.weight missing", err)
	}
}

// TestFamilyTemplatesExist: every family's fallback is a template
// model/chat has.
func TestFamilyTemplatesExist(t *testing.T) {
	for _, name := range arch.Supported() {
		f, err := arch.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chat.ByName(f.Template); err != nil {
			t.Errorf("%s falls back on template %q: %v", name, f.Template, err)
		}
	}
}
