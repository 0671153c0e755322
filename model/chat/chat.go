// Package chat renders conversations into the prompt text a model was
// trained on. It knows the templates chatloop's models use, ChatML (Qwen2,
// Qwen2.5, Qwen3, SmolLM2) and Llama 3, and renders them exactly as
// llama.cpp's built-in llama_chat_apply_template does (src/llama-chat.cpp):
//
//   - chatml: "<|im_start|>{role}\n{content}<|im_end|>\n" per message, then
//     "<|im_start|>assistant\n" for the generation prompt. No default system
//     prompt is injected (Qwen2.5's Jinja template would add "You are Qwen,
//     created by Alibaba Cloud..." when there is none; llama.cpp does not).
//   - llama3: "<|start_header_id|>{role}<|end_header_id|>\n\n{trimmed
//     content}<|eot_id|>" per message, then the assistant header. No
//     <|begin_of_text|>: the tokenizer adds BOS (tokenizer.ggml.add_bos_token).
//
// Detect recognises the template from a GGUF file's tokenizer.chat_template
// the way llama.cpp's llm_chat_detect_template does, and within ChatML and
// Llama 3 tells the tool-calling templates apart: "qwen2.5" (a ChatML
// template with <tool_call> and no <think>), "qwen3" (with <think>),
// "llama3.1" (a Llama 3 template with the "ipython" role). Their plain chat
// is chatml's and llama3's; with tools (Template.ToolParts, tools.go) each
// renders as its own Jinja template does.
package chat

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownTemplate: the template text is not one chatloop can render.
var ErrUnknownTemplate = errors.New("chat: unknown chat template")

// Message is one role/content message of a conversation: what a template
// renders, what the engine and the remote backend take, what the bot's
// core builds (bot.Turn), the feedback store records and the exports and
// the reward model read. It is the one message type of chatloop, so that
// no layer converts between look-alikes; its JSON is the OpenAI and TRL
// {"role": …, "content": …}.
//
// Tool calling adds three fields, empty for plain chat: an assistant
// message's ToolCalls, and a "tool" message's ToolCallID and Name (the
// OpenAI chat completions shape).
type Message struct {
	Role    string `json:"role"` // "system", "user", "assistant", "tool"
	Content string `json:"content"`
	// ToolCalls are the tools an assistant message asked for.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID is the call a "tool" message answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// Name is the tool whose result a "tool" message carries.
	Name string `json:"name,omitempty"`
}

// Template renders conversations for one model family.
type Template interface {
	// Name is the template's name as ByName and the config know it.
	Name() string
	// Render returns the prompt text for msgs; with addGenerationPrompt it
	// ends with the header that makes the model answer as the assistant.
	// Control tokens are written out as text: encode the result with
	// special-token parsing.
	Render(msgs []Message, addGenerationPrompt bool) string
	// Parts is Render cut into the template's own markup and the messages'
	// contents, so that a tokenizer can recognise control tokens in the
	// markup only (tokenizer.TokenizeParts): a user cannot end a turn or
	// open a system turn by typing "<|im_end|>". Joined, the parts are
	// exactly Render's text.
	Parts(msgs []Message, addGenerationPrompt bool) []Part
	// StopStrings are texts that end the assistant's turn when a model
	// writes them as text instead of as a control token.
	StopStrings() []string
	// ToolParts is Parts with tools offered to the model, and tool calls
	// and tool results in msgs, rendered as the family's Jinja template
	// renders them (tools.go). With no tools and no tool turns
	// (HasToolTurns) it is Parts.
	ToolParts(msgs []Message, tools []Tool, addGenerationPrompt bool) []Part
	// ToolCallFormat is how the family's models write tool calls
	// (NewToolCallParser reads them).
	ToolCallFormat() ToolCallFormat
}

// Part is a piece of a rendered prompt: template markup, or content.
type Part struct {
	Text   string
	Markup bool
}

// join concatenates parts.
func join(parts []Part) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// Names lists the templates chatloop renders.
func Names() []string { return []string{"chatml", "qwen2.5", "qwen3", "llama3", "llama3.1"} }

// The templates. chatml and llama3 offer tools in the form of their
// closest tool-calling relative (qwen3's without <think>, and llama3.1's).
var (
	plainChatML = chatML{name: "chatml"}
	qwen25      = chatML{name: "qwen2.5", defaultSystem: qwenDefaultSystem}
	qwen3       = chatML{name: "qwen3", think: true}
	plainLlama3 = llama3{name: "llama3"}
	llama31     = llama3{name: "llama3.1"}
)

// ByName returns the template with this name (one of Names).
func ByName(name string) (Template, error) {
	switch name {
	case "chatml":
		return plainChatML, nil
	case "qwen2.5":
		return qwen25, nil
	case "qwen3":
		return qwen3, nil
	case "llama3":
		return plainLlama3, nil
	case "llama3.1":
		return llama31, nil
	}
	return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownTemplate, name, strings.Join(Names(), ", "))
}

// Detect recognises a template from its Jinja text (tokenizer.chat_template)
// or from its name, following llama.cpp's detection order so that a
// template llama.cpp would render some other way is not mistaken for
// ChatML or Llama 3.
func Detect(templateText string) (Template, error) {
	if t, err := ByName(templateText); err == nil {
		return t, nil
	}
	if strings.TrimSpace(templateText) == "" {
		return nil, fmt.Errorf("%w: the model has no chat template; set [model] template to one of %s",
			ErrUnknownTemplate, strings.Join(Names(), ", "))
	}
	has := func(s string) bool { return strings.Contains(templateText, s) }
	other := ""
	switch {
	case has("<|im_start|>"):
		switch {
		case has("<|im_sep|>"):
			other = "phi4"
		case has("<end_of_utterance>"):
			other = "smolvlm"
		case has("<think>") && has("<tool_call>"):
			return qwen3, nil
		case has("<tool_call>"):
			return qwen25, nil
		default:
			return plainChatML, nil
		}
	case strings.HasPrefix(templateText, "mistral") || has("[INST]"):
		other = "mistral or llama2"
	case has("<|assistant|>") && has("<|end|>"):
		other = "phi3"
	case has("[gMASK]<sop>"):
		other = "chatglm4"
	case has("<|assistant|>") && has("<|user|>"):
		other = "glmedge, falcon3 or exaone-moe"
	case has("<|{{ item['role'] }}|>") && has("<|begin_of_image|>"):
		other = "glmedge"
	case has("<|user|>") && has("<|endoftext|>"):
		other = "zephyr"
	case has("bos_token + message['role']"):
		other = "monarch"
	case has("<start_of_turn>"):
		other = "gemma"
	case has("'\\n\\nAssistant: ' + eos_token"):
		other = "orion"
	case has("GPT4 Correct "):
		other = "openchat"
	case has("USER: ") && has("ASSISTANT: "):
		other = "vicuna"
	case has("### Instruction:") && has("<|EOT|>"):
		other = "deepseek"
	case has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>"):
		other = "command-r"
	case has("<|start_header_id|>") && has("<|end_header_id|>"):
		if has("ipython") {
			return llama31, nil
		}
		return plainLlama3, nil
	}
	if other != "" {
		return nil, fmt.Errorf("%w: it looks like llama.cpp's %s template, which chatloop does not render; set [model] template to one of %s",
			ErrUnknownTemplate, other, strings.Join(Names(), ", "))
	}
	return nil, fmt.Errorf("%w: not recognised; set [model] template to one of %s", ErrUnknownTemplate, strings.Join(Names(), ", "))
}

// chatML renders ChatML; name, defaultSystem and think choose the
// family member's tool-calling form.
type chatML struct {
	name          string
	defaultSystem string // Qwen2.5's system prompt when there is none (with tools only)
	think         bool   // Qwen3's <think> handling (with tools only)
}

func (c chatML) Name() string { return c.name }

func (c chatML) ToolParts(msgs []Message, tools []Tool, addGenerationPrompt bool) []Part {
	if len(tools) == 0 && !HasToolTurns(msgs) {
		return c.Parts(msgs, addGenerationPrompt)
	}
	return c.toolParts(msgs, tools, addGenerationPrompt)
}

func (chatML) ToolCallFormat() ToolCallFormat { return ToolCallsTagged }

func (c chatML) Render(msgs []Message, addGenerationPrompt bool) string {
	return join(c.Parts(msgs, addGenerationPrompt))
}

func (chatML) Parts(msgs []Message, addGenerationPrompt bool) []Part {
	parts := make([]Part, 0, 3*len(msgs)+1)
	end := ""
	for _, m := range msgs {
		parts = append(parts, Part{end + "<|im_start|>" + m.Role + "\n", true}, Part{m.Content, false})
		end = "<|im_end|>\n"
	}
	if addGenerationPrompt {
		parts = append(parts, Part{end + "<|im_start|>assistant\n", true})
	} else if end != "" {
		parts = append(parts, Part{end, true})
	}
	return parts
}

func (chatML) StopStrings() []string {
	return []string{"<|im_end|>", "<|im_start|>", "<|endoftext|>"}
}

// llama3 renders Llama 3; name tells llama3 from llama3.1, which render
// alike.
type llama3 struct{ name string }

func (l llama3) Name() string { return l.name }

func (l llama3) ToolParts(msgs []Message, tools []Tool, addGenerationPrompt bool) []Part {
	if len(tools) == 0 && !HasToolTurns(msgs) {
		return l.Parts(msgs, addGenerationPrompt)
	}
	return l.toolParts(msgs, tools, addGenerationPrompt)
}

func (llama3) ToolCallFormat() ToolCallFormat { return ToolCallsJSON }

func (l llama3) Render(msgs []Message, addGenerationPrompt bool) string {
	return join(l.Parts(msgs, addGenerationPrompt))
}

func (llama3) Parts(msgs []Message, addGenerationPrompt bool) []Part {
	parts := make([]Part, 0, 3*len(msgs)+1)
	end := ""
	for _, m := range msgs {
		parts = append(parts,
			Part{end + "<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n", true},
			Part{trimASCIISpace(m.Content), false})
		end = "<|eot_id|>"
	}
	if addGenerationPrompt {
		parts = append(parts, Part{end + "<|start_header_id|>assistant<|end_header_id|>\n\n", true})
	} else if end != "" {
		parts = append(parts, Part{end, true})
	}
	return parts
}

func (llama3) StopStrings() []string {
	return []string{"<|eot_id|>", "<|start_header_id|>", "<|end_of_text|>", "<|eom_id|>"}
}

// trimASCIISpace trims what C's isspace accepts (llama-chat.cpp's trim):
// space, \t, \n, \v, \f, \r; other Unicode spaces stay.
func trimASCIISpace(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}
