package chat

import "encoding/json"

// RoleTool is the role of a message that carries a tool's result back to
// the model (OpenAI's "tool" role; Qwen renders it as a <tool_response>
// in a user turn, Llama 3.1 as an "ipython" turn).
const RoleTool = "tool"

// Tool describes one tool offered to the model, in the shape the OpenAI
// chat completions API and Hugging Face chat templates take:
// {"type": "function", "function": {"name", "description", "parameters"}}.
type Tool struct {
	Type     string       `json:"type"` // "function"
	Function ToolFunction `json:"function"`
}

// ToolFunction is a tool's name, description and JSON-schema parameters.
type ToolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolCall is one call of a tool the model asked for, in the OpenAI shape.
// Arguments is the JSON text of the arguments object, as OpenAI sends it
// (Hugging Face templates and TRL take the decoded object: exports
// convert).
type ToolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall is the name and JSON arguments of a tool call.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Equal reports whether m and o are the same message, tool calls included.
func (m Message) Equal(o Message) bool {
	if m.Role != o.Role || m.Content != o.Content || m.ToolCallID != o.ToolCallID || m.Name != o.Name || len(m.ToolCalls) != len(o.ToolCalls) {
		return false
	}
	for i := range m.ToolCalls {
		if m.ToolCalls[i] != o.ToolCalls[i] {
			return false
		}
	}
	return true
}
