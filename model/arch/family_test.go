package arch

import (
	"errors"
	"strings"
	"testing"
)

func TestRegisteredFamilies(t *testing.T) {
	got := strings.Join(Supported(), " ")
	if want := "llama qwen2 qwen3"; got != want {
		t.Fatalf("Supported() = %q, want %q", got, want)
	}
	for _, c := range []struct {
		name             string
		neox, qkNorm     bool
		template, blocks string
	}{
		{"qwen2", true, false, "chatml", "qwen2.block_count"},
		{"qwen3", true, true, "chatml", "qwen3.block_count"},
		{"llama", false, false, "llama3", "llama.block_count"},
	} {
		f, err := Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name != c.name || f.RopeNeox != c.neox || f.QKNorm != c.qkNorm || f.Template != c.template || f.Keys.BlockCount != c.blocks {
			t.Errorf("%s: got name %q, neox %v, qk norm %v, template %q, block count key %q; want %q, %v, %v, %q, %q",
				c.name, f.Name, f.RopeNeox, f.QKNorm, f.Template, f.Keys.BlockCount, c.name, c.neox, c.qkNorm, c.template, c.blocks)
		}
	}
	_, err := Lookup("gpt2")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "llama, qwen2, qwen3") {
		t.Errorf("Lookup(gpt2) = %v, want ErrUnsupported listing the families", err)
	}
}

// mustPanic runs fn and returns what it panicked with, failing when it
// returns normally.
func mustPanic(t *testing.T, fn func()) (v any) {
	t.Helper()
	defer func() { v = recover() }()
	fn()
	t.Fatal("no panic")
	return nil
}

func TestRegisterRefuses(t *testing.T) {
	ok := Family{Name: "qwen2", Tensors: LlamaTensors, Keys: LlamaKeys("qwen2"), Template: "chatml"}
	if v := mustPanic(t, func() { Register(ok) }); !strings.Contains(v.(string), `twice for "qwen2"`) {
		t.Errorf("duplicate: panicked with %v", v)
	}
	for _, c := range []struct {
		change func(*Family)
		want   string
	}{
		{func(f *Family) { f.Name = "" }, "without a name"},
		{func(f *Family) { f.Template = "" }, "no Template"},
		{func(f *Family) { f.Tensors.FFNDown = "" }, "no tensor name FFNDown"},
		{func(f *Family) { f.Keys.RMSEpsilon = "" }, "no metadata key RMSEpsilon"},
		{func(f *Family) { f.Tensors.Block = "blk.%s." }, "one %d"},
		{func(f *Family) { f.Tensors.Block = "blk.%d.%d" }, "one %d"},
		{func(f *Family) { f.QKNorm, f.Tensors.KNorm = true, "" }, "QKNorm without"},
	} {
		f := ok
		f.Name = "fresh"
		c.change(&f)
		if v := mustPanic(t, func() { Register(f) }); !strings.Contains(v.(string), c.want) {
			t.Errorf("panicked with %v, want it to say %q", v, c.want)
		}
	}
	if _, err := Lookup("fresh"); err == nil {
		t.Error("a refused family was registered")
	}
}
