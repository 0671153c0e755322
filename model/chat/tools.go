package chat

import (
	"strings"
)

// Tool calling renders what the model family's own Jinja chat template
// renders (tokenizer_config.json's chat_template, as transformers'
// apply_chat_template and llama.cpp's --jinja run it) when tools are
// offered or the conversation holds tool calls or tool results. Plain chat
// keeps llama.cpp's built-in rendering (Parts), which these templates'
// Jinja differs from in small ways (Qwen2.5's default system prompt,
// Llama 3.1's dated system turn); see docs/tools.md.
//
// ChatML family (chatml, qwen2.5, qwen3):
//   - the system turn holds the system message (Qwen2.5: or its default
//     "You are Qwen, created by Alibaba Cloud. You are a helpful
//     assistant.") and the "# Tools" block listing each tool as JSON
//     inside <tools></tools>;
//   - an assistant's calls are "<tool_call>\n{"name": …, "arguments":
//     {…}}\n</tool_call>", one per call, after its text;
//   - tool results are "<tool_response>\n…\n</tool_response>" in a user
//     turn, consecutive results grouped in one turn;
//   - qwen3 also drops the <think> part of earlier answers and writes an
//     empty "<think>\n\n</think>\n\n" on the current round's last answer,
//     as its template does.
//
// Llama 3 family (llama3, llama3.1): the system turn starts with
// "Environment: ipython" and the template's fixed dates, the tools go into
// the first user message as indented JSON, a call is the assistant turn
// {"name": …, "parameters": {…}} and a result an "ipython" turn holding
// the result as a JSON string.

// ToolCallFormat is how a model family writes its tool calls.
type ToolCallFormat int

const (
	// ToolCallsTagged: <tool_call>{"name": …, "arguments": {…}}</tool_call>
	// anywhere in the answer (Qwen2.5, Qwen3, Hermes).
	ToolCallsTagged ToolCallFormat = iota + 1
	// ToolCallsJSON: the whole answer is {"name": …, "parameters": {…}}
	// (Llama 3.1's JSON tool calling), optionally after <|python_tag|>.
	ToolCallsJSON
)

// HasToolTurns reports whether msgs hold a tool call or a tool result,
// which a template renders in its tool-calling form even with no tools
// offered.
func HasToolTurns(msgs []Message) bool {
	for _, m := range msgs {
		if len(m.ToolCalls) > 0 || m.Role == RoleTool || m.Role == "ipython" {
			return true
		}
	}
	return false
}

// RenderTools is Template.ToolParts joined into the prompt text.
func RenderTools(t Template, msgs []Message, tools []Tool, addGenerationPrompt bool) string {
	return join(t.ToolParts(msgs, tools, addGenerationPrompt))
}

// parts collects a rendering, merging neighbours of the same kind.
type parts []Part

func (p *parts) add(text string, markup bool) {
	if text == "" {
		return
	}
	if n := len(*p); n > 0 && (*p)[n-1].Markup == markup {
		(*p)[n-1].Text += text
		return
	}
	*p = append(*p, Part{text, markup})
}

func (p *parts) markup(s string)  { p.add(s, true) }
func (p *parts) content(s string) { p.add(s, false) }

const qwenDefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

const qwenToolsIntro = "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>"

const qwenToolsOutro = "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"

// toolParts renders the ChatML family's tool-calling form (see the
// comment at the top of this file).
func (c chatML) toolParts(msgs []Message, tools []Tool, addGenerationPrompt bool) []Part {
	var p parts
	hasSystem := len(msgs) > 0 && msgs[0].Role == "system"
	if len(tools) > 0 {
		p.markup("<|im_start|>system\n")
		switch {
		case hasSystem:
			p.content(msgs[0].Content)
			p.markup("\n\n")
		case c.defaultSystem != "":
			p.markup(c.defaultSystem + "\n\n")
		}
		p.markup(qwenToolsIntro)
		for _, t := range tools {
			p.markup("\n")
			p.content(toolJSON(t, 0))
		}
		p.markup(qwenToolsOutro)
	} else if hasSystem {
		p.markup("<|im_start|>system\n")
		p.content(msgs[0].Content)
		p.markup("<|im_end|>\n")
	} else if c.defaultSystem != "" {
		p.markup("<|im_start|>system\n" + c.defaultSystem + "<|im_end|>\n")
	}
	lastQuery := c.lastQuery(msgs)
	for i, m := range msgs {
		switch {
		case m.Role == "user" || (m.Role == "system" && i > 0):
			p.markup("<|im_start|>" + m.Role + "\n")
			p.content(m.Content)
			p.markup("<|im_end|>\n")
		case m.Role == "assistant":
			content := m.Content
			p.markup("<|im_start|>assistant\n")
			if c.think {
				reasoning := ""
				if strings.Contains(content, "</think>") {
					cut := strings.Split(content, "</think>")
					content = strings.TrimLeft(cut[len(cut)-1], "\n")
					before := strings.Split(strings.TrimRight(cut[0], "\n"), "<think>")
					reasoning = strings.TrimLeft(before[len(before)-1], "\n")
				}
				if i > lastQuery && (i == len(msgs)-1 || reasoning != "") {
					p.markup("<think>\n")
					p.content(strings.Trim(reasoning, "\n"))
					p.markup("\n</think>\n\n")
					p.content(strings.TrimLeft(content, "\n"))
				} else {
					p.content(content)
				}
			} else {
				p.content(content)
			}
			for j, call := range m.ToolCalls {
				if j > 0 || content != "" {
					p.markup("\n")
				}
				p.markup("<tool_call>\n")
				p.content(`{"name": "` + call.Function.Name + `", "arguments": ` + argumentsJSON(call.Function.Arguments) + "}")
				p.markup("\n</tool_call>")
			}
			p.markup("<|im_end|>\n")
		case m.Role == RoleTool:
			if i == 0 || msgs[i-1].Role != RoleTool {
				p.markup("<|im_start|>user")
			}
			p.markup("\n<tool_response>\n")
			p.content(m.Content)
			p.markup("\n</tool_response>")
			if i == len(msgs)-1 || msgs[i+1].Role != RoleTool {
				p.markup("<|im_end|>\n")
			}
		}
		// The templates write nothing for other roles.
	}
	if addGenerationPrompt {
		p.markup("<|im_start|>assistant\n")
	}
	return p
}

// lastQuery is Qwen3's ns.last_query_index: the last user message that is
// not a wrapped tool response, or the last message when there is none.
func (chatML) lastQuery(msgs []Message) int {
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Role == "user" && !(strings.HasPrefix(m.Content, "<tool_response>") && strings.HasSuffix(m.Content, "</tool_response>")) {
			return i
		}
	}
	return len(msgs) - 1
}

// llama31DateHeader is what Llama 3.1's template writes at the top of the
// system turn (its date_string default: chatloop does not pass one).
const llama31DateHeader = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

const llama31ToolsIntro = "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n"

// toolParts renders Llama 3.1's tool-calling form (tools_in_user_message,
// the template's default). Where the template raises an error, it renders
// on: no first user message gives one with the tools alone, and an answer
// with several calls gives one assistant turn per call.
func (llama3) toolParts(msgs []Message, tools []Tool, addGenerationPrompt bool) []Part {
	var p parts
	system := ""
	if len(msgs) > 0 && msgs[0].Role == "system" {
		system = strings.TrimSpace(msgs[0].Content)
		msgs = msgs[1:]
	}
	p.markup("<|start_header_id|>system<|end_header_id|>\n\n")
	if len(tools) > 0 {
		p.markup("Environment: ipython\n")
	}
	p.markup(llama31DateHeader)
	p.content(system)
	p.markup("<|eot_id|>")
	if len(tools) > 0 {
		first := ""
		if len(msgs) > 0 {
			first = strings.TrimSpace(msgs[0].Content)
			msgs = msgs[1:]
		}
		p.markup("<|start_header_id|>user<|end_header_id|>\n\n" + llama31ToolsIntro)
		for _, t := range tools {
			p.content(toolJSON(t, 4))
			p.markup("\n\n")
		}
		p.content(first)
		p.markup("<|eot_id|>")
	}
	for _, m := range msgs {
		switch {
		case len(m.ToolCalls) > 0:
			for _, call := range m.ToolCalls {
				p.markup("<|start_header_id|>assistant<|end_header_id|>\n\n")
				p.content(`{"name": "` + call.Function.Name + `", "parameters": ` + argumentsJSON(call.Function.Arguments) + "}")
				p.markup("<|eot_id|>")
			}
		case m.Role == RoleTool || m.Role == "ipython":
			// The template's "content is iterable" holds for a string too,
			// so a result is written as a JSON string.
			var b strings.Builder
			pyString(&b, m.Content)
			p.markup("<|start_header_id|>ipython<|end_header_id|>\n\n")
			p.content(b.String())
			p.markup("<|eot_id|>")
		default:
			p.markup("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n")
			p.content(strings.TrimSpace(m.Content))
			p.markup("<|eot_id|>")
		}
	}
	if addGenerationPrompt {
		p.markup("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
	return p
}
