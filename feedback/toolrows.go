package feedback

import (
	"bytes"
	"encoding/json"

	"github.com/chatloop/chatloop/model/chat"
)

// Tool calls in the exports. A stored answer keeps its tool rounds in the
// OpenAI shape (chat.Message: an assistant message's ToolCalls with the
// arguments as JSON text, a "tool" message's ToolCallID and Name). The two
// families of export formats want them differently:
//
//   - TRL (preference, kto, sft) takes the conversational form Hugging Face
//     chat templates render: assistant "tool_calls" whose "arguments" is a
//     JSON object, "tool" messages with the tool's "name", and the tools
//     offered in a "tools" column of JSON schemas.
//   - OpenAI (openai-sft, openai-dpo) takes "arguments" as a JSON string,
//     "tool" messages with their "tool_call_id", an assistant message that
//     only calls tools without "content", and "tools" beside "messages"
//     (in "input" for DPO).
//
// A plain message has the same {"role","content"} JSON in both.

// TRLMessage is a message of a TRL conversational row.
type TRLMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ToolCalls are an assistant message's tool calls.
	ToolCalls []TRLToolCall `json:"tool_calls,omitempty"`
	// ToolCallID and Name say which call and tool a "tool" message
	// answers (chat templates read the name; some, like Mistral's, the id).
	ToolCallID string `json:"tool_call_id,omitempty"`
	Name       string `json:"name,omitempty"`
}

// TRLToolCall is a tool call as Hugging Face chat templates take it.
type TRLToolCall struct {
	ID       string          `json:"id,omitempty"`
	Type     string          `json:"type"`
	Function TRLFunctionCall `json:"function"`
}

// TRLFunctionCall is a tool's name and its arguments as a JSON object. A
// call whose arguments were not a JSON object (a model's malformed call,
// kept as it was written) carries them as a JSON string.
type TRLFunctionCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// OpenAIMessage is a message of an OpenAI fine-tuning row.
type OpenAIMessage struct {
	Role string `json:"role"`
	// Content is absent only from an assistant message that calls tools
	// and says nothing.
	Content    *string         `json:"content,omitempty"`
	ToolCalls  []chat.ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// completion is an answer's part of a conversation: its tool rounds, then
// its final assistant message.
func completion(r *answerRecord) []Message {
	out := make([]Message, 0, len(r.Steps)+1)
	out = append(out, r.Steps...)
	return append(out, Message{Role: "assistant", Content: r.Text})
}

// trlArguments turns OpenAI's JSON-text arguments into the object TRL
// wants: "" is {}, a JSON object is itself (compacted), anything else is
// kept as a JSON string.
func trlArguments(args string) json.RawMessage {
	if args == "" {
		return json.RawMessage(`{}`)
	}
	trimmed := bytes.TrimSpace([]byte(args))
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		var b bytes.Buffer
		if json.Compact(&b, trimmed) == nil {
			return b.Bytes()
		}
	}
	s, _ := json.Marshal(args)
	return s
}

func trlMessages(ms []Message) []TRLMessage {
	out := make([]TRLMessage, len(ms))
	for i, m := range ms {
		t := TRLMessage{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID, Name: m.Name}
		for _, c := range m.ToolCalls {
			typ := c.Type
			if typ == "" {
				typ = "function"
			}
			t.ToolCalls = append(t.ToolCalls, TRLToolCall{ID: c.ID, Type: typ, Function: TRLFunctionCall{Name: c.Function.Name, Arguments: trlArguments(c.Function.Arguments)}})
		}
		out[i] = t
	}
	return out
}

func openAIMessages(ms []Message) []OpenAIMessage {
	out := make([]OpenAIMessage, len(ms))
	for i, m := range ms {
		o := OpenAIMessage{Role: m.Role, ToolCallID: m.ToolCallID}
		if m.Content != "" || len(m.ToolCalls) == 0 {
			content := m.Content
			o.Content = &content
		}
		for _, c := range m.ToolCalls {
			if c.Type == "" {
				c.Type = "function"
			}
			o.ToolCalls = append(o.ToolCalls, c)
		}
		out[i] = o
	}
	return out
}
