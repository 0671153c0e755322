package tune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/chat"
)

// ErrData is returned (wrapped, with the line) for preference data that
// cannot be read.
var ErrData = errors.New("tune: bad preference data")

// ErrNoPairs is returned when the data holds no preference pair.
var ErrNoPairs = errors.New("tune: no preference pairs")

// Example is one preference pair as text: a conversational prompt (role
// and content messages, rendered with the model's chat template) or a
// plain-text one, and the chosen and rejected answers. A conversational
// answer that called tools has its tool rounds (assistant tool calls, then
// tool results) in ChosenSteps or RejectedSteps, before its final text,
// and the tools offered are in Tools.
type Example struct {
	// Messages is the conversational prompt; nil for plain text.
	Messages []model.Message
	// Prompt is the plain-text prompt (when Messages is nil).
	Prompt                     string
	Chosen, Rejected           string
	ChosenSteps, RejectedSteps []model.Message
	Tools                      []chat.Tool
	// Line is the example's line in its JSONL source (1-based).
	Line int
}

// Same reports whether the two answers are the same, tool rounds
// included: such a pair teaches nothing.
func (ex *Example) Same() bool {
	return ex.Chosen == ex.Rejected && slices.EqualFunc(ex.ChosenSteps, ex.RejectedSteps, model.Message.Equal)
}

// usesTools reports whether the example renders with tools.
func (ex *Example) usesTools() bool {
	return len(ex.Tools) > 0 || len(ex.ChosenSteps) > 0 || len(ex.RejectedSteps) > 0
}

// maxLine bounds one JSONL line (a pair with its whole context).
const maxLine = 16 << 20

// message is a message of a row: role and content, and the tool calls
// and results of TRL's tool-calling form (arguments as an object or as
// OpenAI's JSON text).
type message = model.Message

// ReadJSONL reads TRL preference rows, one JSON object a line: the
// conversational form chatloop feedback export --format preference writes,
// {"prompt":[{"role":…,"content":…},…],"chosen":[{"role":"assistant",…}],
// "rejected":[…]} (with tool calling: each answer's assistant tool_calls
// and tool messages before its final assistant message, and a "tools"
// column), or the plain-text form {"prompt":"…","chosen":"…",
// "rejected":"…"}. Blank lines are skipped; anything else that is not such
// a row is an error naming its line.
func ReadJSONL(r io.Reader) ([]Example, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var out []Example
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		ex, err := parseRow(b)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrData, line, err)
		}
		ex.Line = line
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d is longer than %d bytes", ErrData, line+1, maxLine)
		}
		return nil, fmt.Errorf("tune: reading data: %w", err)
	}
	return out, nil
}

func parseRow(b []byte) (Example, error) {
	var row struct {
		Prompt, Chosen, Rejected json.RawMessage
		Tools                    []chat.Tool
	}
	if err := json.Unmarshal(b, &row); err != nil {
		return Example{}, err
	}
	if row.Prompt == nil || row.Chosen == nil || row.Rejected == nil {
		return Example{}, errors.New(`want "prompt", "chosen" and "rejected"`)
	}
	var ex Example
	var ps string
	if json.Unmarshal(row.Prompt, &ps) == nil {
		ex.Prompt = ps
		if err := json.Unmarshal(row.Chosen, &ex.Chosen); err != nil {
			return ex, errors.New(`plain-text "prompt" needs plain-text "chosen" and "rejected"`)
		}
		if err := json.Unmarshal(row.Rejected, &ex.Rejected); err != nil {
			return ex, errors.New(`plain-text "prompt" needs plain-text "chosen" and "rejected"`)
		}
		if ps == "" {
			return ex, errors.New(`empty "prompt"`)
		}
	} else {
		var prompt, chosen, rejected []message
		for _, f := range []struct {
			name string
			raw  json.RawMessage
			dst  *[]message
		}{{"prompt", row.Prompt, &prompt}, {"chosen", row.Chosen, &chosen}, {"rejected", row.Rejected, &rejected}} {
			if err := json.Unmarshal(f.raw, f.dst); err != nil {
				return ex, fmt.Errorf("%q: want a list of {role, content} messages: %w", f.name, err)
			}
			if len(*f.dst) == 0 {
				return ex, fmt.Errorf("%q has no messages", f.name)
			}
			for _, m := range *f.dst {
				if m.Role == "" {
					return ex, fmt.Errorf("%q has a message without a role", f.name)
				}
			}
		}
		ex.Messages = prompt
		ex.Tools = row.Tools
		for _, a := range []struct {
			msgs  []message
			steps *[]model.Message
			text  *string
		}{{chosen, &ex.ChosenSteps, &ex.Chosen}, {rejected, &ex.RejectedSteps, &ex.Rejected}} {
			last := a.msgs[len(a.msgs)-1]
			if last.Role != "assistant" || len(last.ToolCalls) > 0 {
				return ex, errors.New(`"chosen" and "rejected" must each be one assistant message, after their tool calls and results if any`)
			}
			for _, m := range a.msgs[:len(a.msgs)-1] {
				if !(m.Role == "assistant" && len(m.ToolCalls) > 0) && m.Role != chat.RoleTool {
					return ex, errors.New(`"chosen" and "rejected" must each be one assistant message, after their tool calls and results if any`)
				}
			}
			*a.steps = a.msgs[: len(a.msgs)-1 : len(a.msgs)-1]
			if len(*a.steps) == 0 {
				*a.steps = nil
			}
			*a.text = last.Content
		}
	}
	return ex, nil
}
