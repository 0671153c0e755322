package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// UnmarshalJSON reads a function call with its arguments in either form
// found in the wild: OpenAI's JSON text ("arguments": "{\"q\":\"x\"}") or
// the object Hugging Face chat templates and TRL datasets use
// ("arguments": {"q": "x"}), which is kept as its compact JSON text. So a
// TRL export read back, or a Hugging Face dataset, gives the same
// FunctionCall as the OpenAI form.
func (f *FunctionCall) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	f.Name, f.Arguments = raw.Name, ""
	args := bytes.TrimSpace(raw.Arguments)
	switch {
	case len(args) == 0 || bytes.Equal(args, []byte("null")):
	case args[0] == '"':
		if err := json.Unmarshal(args, &f.Arguments); err != nil {
			return fmt.Errorf("chat: tool call %q arguments: %w", raw.Name, err)
		}
	case args[0] == '{':
		var c bytes.Buffer
		if err := json.Compact(&c, args); err != nil {
			return fmt.Errorf("chat: tool call %q arguments: %w", raw.Name, err)
		}
		f.Arguments = c.String()
	default:
		return fmt.Errorf("chat: tool call %q arguments are %s, want an object or its JSON text", raw.Name, args)
	}
	return nil
}
