package tune

import (
	"errors"
	"fmt"
	"slices"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/tokenizer"
	"github.com/chatloop/chatloop/model/train"
)

// ErrTooLong is returned (wrapped) for a pair longer than the context.
var ErrTooLong = errors.New("tune: pair longer than the context")

// Renderer turns conversations into tokens as the serving engine does;
// *model.Engine is one.
type Renderer interface {
	// PromptTokens renders a prompt with the chat template and the
	// assistant's opening.
	PromptTokens(req model.Request) []int32
	// AnswerTokens renders an answer as the assistant's turn after the
	// prompt msgs, its end of turn included.
	AnswerTokens(msgs []model.Message, answer string) ([]int32, error)
	// Tokenize tokenizes plain text as a prompt (BOS as the model asks).
	Tokenize(text string) []int32
	Tokenizer() *tokenizer.Tokenizer
}

// Render turns an example into the token sequences of its two answers
// after the same prompt, as the model sees them: a conversational prompt
// through the chat template, each answer tokenized apart from the prompt
// and followed by the template's end of turn (as the model generated it
// after the prompt, and as TRL's DPOTrainer renders conversational data,
// end-of-turn token included); a plain-text prompt as it is, each
// answer followed by the end-of-sequence token (as TRL appends it). It
// also returns the prompt's tokens, which identify the prompt.
//
// An example with tools renders through the template's tool-calling form
// (see renderTools).
func Render(r Renderer, ex *Example) (chosen, rejected train.Seq, prompt []int32, err error) {
	if ex.Messages != nil && ex.usesTools() {
		return renderTools(r, ex)
	}
	if ex.Messages != nil {
		prompt = r.PromptTokens(model.Request{Messages: ex.Messages})
		seq := func(answer string) (train.Seq, error) {
			toks, err := r.AnswerTokens(ex.Messages, answer)
			if err != nil {
				return train.Seq{}, fmt.Errorf("%w: line %d: %w", ErrData, ex.Line, err)
			}
			if len(toks) == 0 {
				return train.Seq{}, fmt.Errorf("%w: line %d: an empty answer", ErrData, ex.Line)
			}
			return train.Seq{Tokens: ints(append(slices.Clone(prompt), toks...)), Start: len(prompt)}, nil
		}
		if chosen, err = seq(ex.Chosen); err != nil {
			return
		}
		rejected, err = seq(ex.Rejected)
		return chosen, rejected, prompt, err
	}
	prompt = r.Tokenize(ex.Prompt)
	if len(prompt) == 0 {
		return chosen, rejected, nil, fmt.Errorf("%w: line %d: empty prompt", ErrData, ex.Line)
	}
	tok := r.Tokenizer()
	seq := func(answer string) train.Seq {
		toks := append(slices.Clone(prompt), tok.Encode(answer)...)
		if eos := tok.EOS(); eos >= 0 {
			toks = append(toks, eos)
		}
		return train.Seq{Tokens: ints(toks), Start: len(prompt)}
	}
	return seq(ex.Chosen), seq(ex.Rejected), prompt, nil
}

func ints(ts []int32) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = int(t)
	}
	return out
}
