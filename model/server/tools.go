package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chatloop/chatloop/model/chat"
)

// Tool calling, as the chat completions API defines it: "tools" offered,
// "tool_choice" "auto" or "none", assistant messages with "tool_calls" and
// "tool" messages in the history; answers with "tool_calls" and
// finish_reason "tool_calls", streamed as delta.tool_calls.

// maxTools caps the tools of one request.
const maxTools = 128

// wireTool is one entry of "tools".
type wireTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// wireToolCall is a call in an assistant message, in a request or an
// answer. In a request the arguments may also be an object (some clients
// send them decoded).
type wireToolCall struct {
	Index    *int          `json:"index,omitempty"` // streamed deltas only
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function *wireFunction `json:"function,omitempty"`
}

type wireFunction struct {
	Name      string        `json:"name,omitempty"`
	Arguments argumentsText `json:"arguments"`
}

// argumentsText is a call's arguments: JSON text, as OpenAI sends it, or
// a JSON object, which is kept as its text.
type argumentsText string

func (a *argumentsText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = argumentsText(s)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*a = ""
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*a = argumentsText(buf.String())
	return nil
}

// chatTools checks "tools" and "tool_choice" and returns the tools to
// offer: none when tool_choice is "none".
func chatTools(tools []wireTool, choice json.RawMessage) ([]chat.Tool, error) {
	if len(tools) > maxTools {
		return nil, bad("tools", "at most %d tools, got %d", maxTools, len(tools))
	}
	out := make([]chat.Tool, 0, len(tools))
	for i, t := range tools {
		param := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" || t.Function == nil {
			return nil, bad(param, "a tool must be {\"type\": \"function\", \"function\": {…}}")
		}
		if t.Function.Name == "" {
			return nil, bad(param+".function.name", "a tool needs a name")
		}
		params := bytes.TrimSpace(t.Function.Parameters)
		if bytes.Equal(params, []byte("null")) {
			params = nil
		}
		if len(params) > 0 && params[0] != '{' {
			return nil, bad(param+".function.parameters", "parameters must be a JSON schema object")
		}
		out = append(out, chat.Tool{Type: "function", Function: chat.ToolFunction{Name: t.Function.Name, Description: t.Function.Description, Parameters: json.RawMessage(params)}})
	}
	switch c := strings.TrimSpace(string(choice)); c {
	case "", "null", `"auto"`:
	case `"none"`:
		out = nil
	default:
		return nil, bad("tool_choice", `tool_choice %s is not supported ("auto" or "none")`, c)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// messageToolCalls converts an assistant message's calls.
func messageToolCalls(calls []wireToolCall, param string) ([]chat.ToolCall, error) {
	var out []chat.ToolCall
	for j, c := range calls {
		if c.Function == nil || c.Function.Name == "" {
			return nil, bad(fmt.Sprintf("%s.tool_calls[%d].function.name", param, j), "a tool call needs a function name")
		}
		out = append(out, chat.ToolCall{ID: c.ID, Type: "function", Function: chat.FunctionCall{Name: c.Function.Name, Arguments: string(c.Function.Arguments)}})
	}
	return out, nil
}

// answerCalls reads the calls out of an answer's text; without tools
// offered the text is all answer.
func answerCalls(format chat.ToolCallFormat, offered bool, text string) (string, []chat.ToolCall) {
	if !offered {
		return text, nil
	}
	p := chat.NewToolCallParser(format)
	visible := p.Write(text)
	rest, calls := p.Close()
	return visible + rest, calls
}

// wireCalls is calls as an answer carries them, each with a fresh id.
func wireCalls(calls []chat.ToolCall) []wireToolCall {
	out := make([]wireToolCall, len(calls))
	for i, c := range calls {
		out[i] = wireToolCall{ID: newID("call_"), Type: "function", Function: &wireFunction{Name: c.Function.Name, Arguments: argumentsText(c.Function.Arguments)}}
	}
	return out
}

// MarshalJSON writes arguments as the JSON string OpenAI sends.
func (a argumentsText) MarshalJSON() ([]byte, error) { return json.Marshal(string(a)) }
