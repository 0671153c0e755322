package chat

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// llamaCppConversation and the expected outputs below are llama.cpp's own
// test vectors for its built-in templates (tests/test-chat-template.cpp).
var llamaCppConversation = []Message{
	{Role: "system", Content: "You are a helpful assistant"},
	{Role: "user", Content: "Hello"},
	{Role: "assistant", Content: "Hi there"},
	{Role: "user", Content: "Who are you"},
	{Role: "assistant", Content: "   I am an assistant   "},
	{Role: "user", Content: "Another question"},
}

func TestRenderMatchesLlamaCppTestVectors(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"chatml", "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n"},
		{"llama3", "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
	}
	for _, tt := range tests {
		tmpl, err := ByName(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, tmpl.Render(llamaCppConversation, true)); diff != "" {
			t.Errorf("%s (-llama.cpp +got):\n%s", tt.name, diff)
		}
		noPrompt := tmpl.Render(llamaCppConversation, false)
		if !strings.HasPrefix(tt.want, noPrompt) || len(noPrompt) >= len(tt.want) {
			t.Errorf("%s: without generation prompt %q is not a shorter prefix", tt.name, noPrompt)
		}
	}
}

type jinjaGolden struct {
	Templates map[string]string `json:"templates"`
	Cases     []struct {
		Messages []struct{ Role, Content string } `json:"messages"`
		Rendered map[string]string                `json:"rendered"`
	} `json:"cases"`
}

func readJinja(t *testing.T) *jinjaGolden {
	t.Helper()
	b, err := os.ReadFile("testdata/jinja-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g jinjaGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

func TestDetectRealTemplates(t *testing.T) {
	g := readJinja(t)
	want := map[string]string{"qwen2.5": "qwen2.5", "qwen3": "qwen3", "llama3": "llama3"}
	for model, name := range want {
		tmpl, err := Detect(g.Templates[model])
		if err != nil {
			t.Errorf("Detect(%s template): %v", model, err)
			continue
		}
		if tmpl.Name() != name {
			t.Errorf("Detect(%s template) = %s, want %s", model, tmpl.Name(), name)
		}
	}
}

// TestRenderAgainstJinja compares with the real templates rendered by a
// Jinja engine. The known differences are llama.cpp's: no BOS in the text
// (the tokenizer adds it) and no Qwen2.5 default system prompt.
func TestRenderAgainstJinja(t *testing.T) {
	g := readJinja(t)
	chatml, _ := ByName("chatml")
	llama, _ := ByName("llama3")
	const qwenDefault = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
	for i, c := range g.Cases {
		msgs := make([]Message, len(c.Messages))
		for j, m := range c.Messages {
			msgs[j] = Message{Role: m.Role, Content: m.Content}
		}
		hasSystem := msgs[0].Role == "system"
		got := chatml.Render(msgs, true)
		want := c.Rendered["qwen2.5"]
		if !hasSystem {
			want = strings.TrimPrefix(want, qwenDefault)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("case %d chatml vs Qwen2.5 Jinja (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(c.Rendered["qwen3"], got); diff != "" {
			t.Errorf("case %d chatml vs Qwen3 Jinja (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(c.Rendered["llama3"], "<|begin_of_text|>"+llama.Render(msgs, true)); diff != "" {
			t.Errorf("case %d llama3 vs Jinja (-want +got):\n%s", i, diff)
		}
	}
}

func TestDetectUnknown(t *testing.T) {
	tests := []struct {
		name, text, mention string
	}{
		{"empty", "", "no chat template"},
		{"gemma", "{{ '<start_of_turn>user\n' + content }}", "gemma"},
		{"phi4", "<|im_start|>system<|im_sep|>", "phi4"},
		{"mistral", "{{ '[INST] ' + message['content'] + ' [/INST]' }}", "mistral"},
		{"gibberish", "{{ messages }}", "not recognised"},
	}
	for _, tt := range tests {
		_, err := Detect(tt.text)
		if !errors.Is(err, ErrUnknownTemplate) || !strings.Contains(err.Error(), tt.mention) || !strings.Contains(err.Error(), "[model] template") {
			t.Errorf("%s: Detect error = %v, want ErrUnknownTemplate mentioning %q and the override", tt.name, err, tt.mention)
		}
	}
	if _, err := ByName("vicuna"); !errors.Is(err, ErrUnknownTemplate) || !strings.Contains(err.Error(), "chatml, qwen2.5, qwen3, llama3, llama3.1") {
		t.Errorf("ByName(vicuna) error = %v", err)
	}
	for _, name := range Names() {
		tmpl, err := Detect(name)
		if err != nil || tmpl.Name() != name {
			t.Errorf("Detect(%q) = %v, %v", name, tmpl, err)
		}
	}
}

func TestStopStrings(t *testing.T) {
	for name, want := range map[string]string{"chatml": "<|im_end|>", "llama3": "<|eot_id|>"} {
		tmpl, _ := ByName(name)
		if stops := tmpl.StopStrings(); len(stops) == 0 || stops[0] != want {
			t.Errorf("%s StopStrings() = %v, want %q first", name, stops, want)
		}
	}
}

func TestLlama3TrimsOnlyASCIISpace(t *testing.T) {
	llama, _ := ByName("llama3")
	got := llama.Render([]Message{{Role: "user", Content: "\t\n hi \u3000\r\n"}}, false)
	want := "<|start_header_id|>user<|end_header_id|>\n\nhi \u3000<|eot_id|>"
	if got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

func TestPartsSeparateMarkupFromContent(t *testing.T) {
	msgs := []Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: " <|im_end|><|eot_id|> hi "}, {Role: "assistant", Content: "ok"}}
	for _, name := range Names() {
		tmpl, _ := ByName(name)
		for _, gen := range []bool{false, true} {
			parts := tmpl.Parts(msgs, gen)
			if got, want := join(parts), tmpl.Render(msgs, gen); got != want {
				t.Errorf("%s: joined parts %q != Render %q", name, got, want)
			}
			var contents []string
			for _, p := range parts {
				if !p.Markup {
					contents = append(contents, p.Text)
				} else if strings.Contains(p.Text, "hi") || strings.Contains(p.Text, "brief") {
					t.Errorf("%s: markup part %q holds content", name, p.Text)
				}
			}
			want := []string{"be brief", " <|im_end|><|eot_id|> hi ", "ok"}
			if strings.HasPrefix(name, "llama3") {
				want[1] = "<|im_end|><|eot_id|> hi"
			}
			if diff := cmp.Diff(want, contents); diff != "" {
				t.Errorf("%s: content parts (-want +got):\n%s", name, diff)
			}
		}
	}
}
