package tune

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/tokenizer"
	"github.com/chatloop/chatloop/model/train"
)

// ToolRenderer is a Renderer that renders conversations with tools, tool
// calls and tool results as the model's chat template does;
// *model.Engine is one.
type ToolRenderer interface {
	ToolParts(msgs []model.Message, tools []chat.Tool, addGenerationPrompt bool) []chat.Part
}

// ErrNoToolTemplate is returned (wrapped) for a pair with tool calls when
// the renderer cannot render them.
var ErrNoToolTemplate = errors.New("tune: the renderer cannot render tool calls")

// renderTools renders an example whose answers called tools (or were
// offered tools): the prompt with the tools offered, then each answer's
// tool rounds and final text, as one conversation through the template's
// tool-calling form. The tokens the model wrote count: each assistant
// turn (a tool call, the final text) from after its header to its end of
// turn, as in the plain case. The rest after the prompt is masked (the
// tool results and the headers between turns): the model read them, it
// did not write them, so DPO's log-probabilities leave them out as TRL
// leaves out everything but the assistant's tokens.
func renderTools(r Renderer, ex *Example) (chosen, rejected train.Seq, prompt []int32, err error) {
	tr, ok := r.(ToolRenderer)
	if !ok {
		return chosen, rejected, nil, fmt.Errorf("%w: line %d", ErrNoToolTemplate, ex.Line)
	}
	tok := r.Tokenizer()
	promptText := joinParts(tr.ToolParts(ex.Messages, ex.Tools, true))
	seq := func(steps []model.Message, answer string) (train.Seq, error) {
		conv := append(slices.Clip(ex.Messages), steps...)
		conv = append(conv, model.Message{Role: "assistant", Content: answer})
		full := tr.ToolParts(conv, ex.Tools, false)
		text := joinParts(full)
		// The spans the model wrote, as byte offsets into text.
		var spans [][2]int
		for j := len(ex.Messages); j < len(conv); j++ {
			if conv[j].Role != "assistant" {
				continue
			}
			before := joinParts(tr.ToolParts(conv[:j], ex.Tools, true))
			through := joinParts(tr.ToolParts(conv[:j+1], ex.Tools, false))
			if !strings.HasPrefix(text, before) || !strings.HasPrefix(text, through) || len(through) <= len(before) {
				return train.Seq{}, fmt.Errorf("%w: line %d: the template does not render turn %d of the answer right after what precedes it", ErrData, ex.Line, j-len(ex.Messages)+1)
			}
			if len(spans) > 0 && len(before) < spans[len(spans)-1][1] {
				return train.Seq{}, fmt.Errorf("%w: line %d: the template's turns overlap", ErrData, ex.Line)
			}
			spans = append(spans, [2]int{len(before), len(through)})
		}
		if len(spans) == 0 || spans[0][0] != len(promptText) {
			return train.Seq{}, fmt.Errorf("%w: line %d: the answer does not start right after the prompt", ErrData, ex.Line)
		}
		var toks []int32
		var mask []bool
		add := func(from, to int, counts bool) {
			if from >= to {
				return
			}
			ts := tok.TokenizeParts(cutParts(full, from, to), from == 0)
			toks = append(toks, ts...)
			for range ts {
				mask = append(mask, counts)
			}
		}
		pos := 0
		for _, sp := range spans {
			add(pos, sp[0], false)
			add(sp[0], sp[1], true)
			pos = sp[1]
		}
		add(pos, len(text), false)
		if len(toks) < len(prompt) || !slices.Equal(toks[:len(prompt)], prompt) {
			return train.Seq{}, fmt.Errorf("%w: line %d: the conversation's tokens do not start with the prompt's", ErrData, ex.Line)
		}
		if len(toks) == len(prompt) {
			return train.Seq{}, fmt.Errorf("%w: line %d: an empty answer", ErrData, ex.Line)
		}
		s := train.Seq{Tokens: ints(toks), Start: len(prompt)}
		if slices.Contains(mask[len(prompt):], false) {
			s.Mask = mask
		}
		return s, nil
	}
	prompt = tok.TokenizeParts(cutParts(tr.ToolParts(ex.Messages, ex.Tools, true), 0, len(promptText)), true)
	if chosen, err = seq(ex.ChosenSteps, ex.Chosen); err != nil {
		return
	}
	rejected, err = seq(ex.RejectedSteps, ex.Rejected)
	return chosen, rejected, prompt, err
}

func joinParts(parts []chat.Part) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// cutParts returns the pieces of parts between byte offsets from and to of
// their joined text, each keeping whether it is markup.
func cutParts(parts []chat.Part, from, to int) []tokenizer.Part {
	var out []tokenizer.Part
	off := 0
	for _, p := range parts {
		a, b := max(from, off), min(to, off+len(p.Text))
		if a < b {
			out = append(out, tokenizer.Part{Text: p.Text[a-off : b-off], Markup: p.Markup})
		}
		off += len(p.Text)
	}
	return out
}
