// Package reward trains and applies a reward model: a small head, built
// with spago's autograd, over feature vectors of (prompt, answer) that a
// frozen backbone (the local LLM's final hidden state) provides. It is
// trained with the pairwise Bradley–Terry loss −log σ(r_chosen − r_rejected)
// on preference pairs, plus an optional pointwise logistic term on single
// votes (KTO rows).
//
// The package does not know the backbone: it takes vectors through the
// Featurizer interface, caches them in a bbolt file keyed by the backbone's
// SHA-256 and the text, and checks a saved head's backbone on load.
package reward

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/chatloop/chatloop/model/chat"
)

// ErrInvalid is returned (wrapped) for data the package cannot use.
var ErrInvalid = errors.New("reward: invalid data")

// Message is one role/content message of a prompt.
type Message = chat.Message

// Pair is a preference: Chosen was preferred to Rejected as an answer to
// Prompt. An answer that called tools has its tool rounds (assistant tool
// calls and tool results, in order) in ChosenSteps or RejectedSteps, and
// Chosen or Rejected is its final text.
type Pair struct {
	Prompt                     []Message
	Chosen, Rejected           string
	ChosenSteps, RejectedSteps []Message
	// Tools are the tools offered (the row's "tools" column).
	Tools []chat.Tool
	// Line is the row's line in the file it was read from (0 otherwise).
	Line int
}

// Point is a single vote: Answer to Prompt, after the tool rounds Steps,
// was liked (Label) or not.
type Point struct {
	Prompt []Message
	Steps  []Message
	Answer string
	Label  bool
	Tools  []chat.Tool
	// Line is the row's line in the file it was read from (0 otherwise).
	Line int
}

// Conversation is what a featurizer reads before an answer: the prompt,
// then the answer's tool rounds.
func Conversation(prompt, steps []Message) []Message {
	if len(steps) == 0 {
		return prompt
	}
	return append(slices.Clip(prompt), steps...)
}

// Dataset is what training and evaluation read, in file order.
type Dataset struct {
	Pairs  []Pair
	Points []Point
}

// row is a line of a preference or KTO export (feedback.PreferenceRow,
// feedback.KTORow).
type row struct {
	Prompt     []Message   `json:"prompt"`
	Chosen     []Message   `json:"chosen"`
	Rejected   []Message   `json:"rejected"`
	Completion []Message   `json:"completion"`
	Label      *bool       `json:"label"`
	Tools      []chat.Tool `json:"tools"`
}

// maxLine bounds one JSONL line.
const maxLine = 64 << 20

// ReadJSONL reads rows of chatloop's preference export
// ({"prompt","chosen","rejected"}) and KTO export
// ({"prompt","completion","label"}), which may be mixed. The answer of a
// row is the content of its assistant messages; in a row with tool calls
// (TRL's tool-calling form: assistant "tool_calls", "tool" messages, a
// "tools" column) the messages before the final assistant message are the
// answer's steps. A bad line is an error naming its line number.
func ReadJSONL(r io.Reader) (Dataset, error) {
	var ds Dataset
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var rw row
		if err := json.Unmarshal([]byte(text), &rw); err != nil {
			return ds, fmt.Errorf("%w: line %d: %w", ErrInvalid, line, err)
		}
		switch {
		case rw.Chosen != nil || rw.Rejected != nil:
			cs, c := splitAnswer(rw.Chosen)
			rs, r := splitAnswer(rw.Rejected)
			if c == "" || r == "" {
				return ds, fmt.Errorf("%w: line %d: a preference row needs a non-empty chosen and rejected answer", ErrInvalid, line)
			}
			ds.Pairs = append(ds.Pairs, Pair{Prompt: rw.Prompt, Chosen: c, Rejected: r, ChosenSteps: cs, RejectedSteps: rs, Tools: rw.Tools, Line: line})
		case rw.Completion != nil:
			steps, a := splitAnswer(rw.Completion)
			if a == "" || rw.Label == nil {
				return ds, fmt.Errorf("%w: line %d: a KTO row needs a non-empty completion and a label", ErrInvalid, line)
			}
			ds.Points = append(ds.Points, Point{Prompt: rw.Prompt, Steps: steps, Answer: a, Label: *rw.Label, Tools: rw.Tools, Line: line})
		default:
			return ds, fmt.Errorf("%w: line %d: neither a preference row (chosen, rejected) nor a KTO row (completion, label)", ErrInvalid, line)
		}
	}
	if err := sc.Err(); err != nil {
		return ds, fmt.Errorf("reward: line %d: %w", line+1, err)
	}
	return ds, nil
}

// splitAnswer cuts an answer's messages into its tool rounds and its
// final text. Without tool calls or results it is answerText with no
// steps; with them, the last message must be the final assistant message.
func splitAnswer(msgs []Message) (steps []Message, answer string) {
	if !slices.ContainsFunc(msgs, hasTools) {
		return nil, answerText(msgs)
	}
	last := msgs[len(msgs)-1]
	if last.Role != "assistant" || hasTools(last) {
		return nil, "" // ends in a call or a result: no final answer
	}
	return msgs[:len(msgs)-1], last.Content
}

func hasTools(m Message) bool { return len(m.ToolCalls) > 0 || m.Role == chat.RoleTool }

// answerText joins the content of the assistant messages (all messages if
// none has a role).
func answerText(msgs []Message) string {
	var parts []string
	for _, m := range msgs {
		if m.Role == "assistant" || m.Role == "" {
			parts = append(parts, m.Content)
		}
	}
	return strings.Join(parts, "\n")
}

// Unpaired returns ds without the points whose answer (to the same
// prompt) is already in a pair: a vote that made a pair is counted once,
// by the pairwise term, and the pointwise term sees only unpaired votes.
func (ds Dataset) Unpaired() Dataset {
	inPair := map[string]bool{}
	key := func(tools []chat.Tool, prompt []Message, answer string) string {
		return string(cacheKey(Backbone{}, prompt, answer, tools...))
	}
	for _, p := range ds.Pairs {
		inPair[key(p.Tools, Conversation(p.Prompt, p.ChosenSteps), p.Chosen)] = true
		inPair[key(p.Tools, Conversation(p.Prompt, p.RejectedSteps), p.Rejected)] = true
	}
	out := Dataset{Pairs: ds.Pairs}
	for _, p := range ds.Points {
		if !inPair[key(p.Tools, Conversation(p.Prompt, p.Steps), p.Answer)] {
			out.Points = append(out.Points, p)
		}
	}
	return out
}
