package remote

import (
	"fmt"
	"sort"

	"github.com/chatloop/chatloop/model/chat"
)

// wireMessage is a chat message as the chat completions API takes it: an
// assistant message that only calls tools has a null content, and a
// "tool" message names the call it answers by tool_call_id alone.
type wireMessage struct {
	Role       string          `json:"role"`
	Content    *string         `json:"content"`
	ToolCalls  []chat.ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Name       string          `json:"name,omitempty"`
}

func wireMessages(msgs []Message) []wireMessage {
	out := make([]wireMessage, len(msgs))
	for i, m := range msgs {
		w := wireMessage{Role: m.Role, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID, Name: m.Name}
		if m.Content != "" || len(m.ToolCalls) == 0 {
			content := m.Content
			w.Content = &content
		}
		if m.Role == chat.RoleTool {
			w.Name = "" // not part of the API's tool message
		}
		for j := range w.ToolCalls {
			if w.ToolCalls[j].Type == "" {
				w.ToolCalls = append([]chat.ToolCall(nil), m.ToolCalls...)
				for k := range w.ToolCalls {
					if w.ToolCalls[k].Type == "" {
						w.ToolCalls[k].Type = "function"
					}
				}
				break
			}
		}
		out[i] = w
	}
	return out
}

// Bounds on the tool calls of one answer: a server (or a model) cannot
// make the client hold more than this.
const (
	maxToolCalls     = 32
	maxToolCallBytes = 1 << 20 // name and arguments of all calls together
)

// wireToolCall is one entry of a chunk's delta.tool_calls (a piece of a
// call: the first carries its id and name, later ones pieces of its
// arguments) or of a complete message's tool_calls.
type wireToolCall struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolCallAssembler puts streamed tool-call pieces together by index.
type toolCallAssembler struct {
	calls map[int]*chat.ToolCall
	bytes int
}

// add takes the pieces of one chunk. A piece without an index continues
// the call of its position in the list (some servers leave index out).
func (a *toolCallAssembler) add(pieces []wireToolCall) error {
	for pos, p := range pieces {
		idx := pos
		if p.Index != nil {
			idx = *p.Index
		}
		if idx < 0 || idx >= maxToolCalls {
			return fmt.Errorf("%w: tool call index %d is outside 0..%d", errServer, idx, maxToolCalls-1)
		}
		if a.calls == nil {
			a.calls = map[int]*chat.ToolCall{}
		}
		c := a.calls[idx]
		if c == nil {
			c = &chat.ToolCall{Type: "function"}
			a.calls[idx] = c
		}
		a.bytes += len(p.ID) + len(p.Function.Name) + len(p.Function.Arguments)
		if a.bytes > maxToolCallBytes {
			return fmt.Errorf("%w: tool calls longer than %d bytes", errServer, maxToolCallBytes)
		}
		if p.ID != "" {
			c.ID = p.ID
		}
		if p.Type != "" {
			c.Type = p.Type
		}
		// The name comes whole in the first piece; a server that repeats
		// it in later pieces repeats the same name.
		if p.Function.Name != "" && c.Function.Name != p.Function.Name {
			c.Function.Name += p.Function.Name
		}
		c.Function.Arguments += p.Function.Arguments
	}
	return nil
}

// result lists the assembled calls in index order, leaving out any
// without a name (a server's stray piece).
func (a *toolCallAssembler) result() []chat.ToolCall {
	if len(a.calls) == 0 {
		return nil
	}
	idx := make([]int, 0, len(a.calls))
	for i := range a.calls {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]chat.ToolCall, 0, len(idx))
	for _, i := range idx {
		if c := a.calls[i]; c.Function.Name != "" {
			out = append(out, *c)
		}
	}
	return out
}
