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
	// ConversationTokens renders a finished conversation, the last turn's
	// end included.
	ConversationTokens(msgs []model.Message) []int32
	// Tokenize tokenizes plain text as a prompt (BOS as the model asks).
	Tokenize(text string) []int32
	Tokenizer() *tokenizer.Tokenizer
}

// Render turns an example into the token sequences of its two answers
// after the same prompt, as the model sees them: a conversational prompt
// through the chat template, each answer as the template closes an
// assistant turn (its end-of-turn token included, as TRL's DPOTrainer
// renders conversational data); a plain-text prompt as it is, each
// answer followed by the end-of-sequence token (as TRL appends it). It
// also returns the prompt's tokens, which identify the prompt.
func Render(r Renderer, ex *Example) (chosen, rejected train.Seq, prompt []int32, err error) {
	if ex.Messages != nil {
		prompt = r.PromptTokens(model.Request{Messages: ex.Messages})
		seq := func(answer string) (train.Seq, error) {
			msgs := append(slices.Clip(ex.Messages), model.Message{Role: "assistant", Content: answer})
			full := r.ConversationTokens(msgs)
			if len(full) <= len(prompt) || !slices.Equal(full[:len(prompt)], prompt) {
				return train.Seq{}, fmt.Errorf("%w: line %d: the chat template does not render the answer after the prompt", ErrData, ex.Line)
			}
			return train.Seq{Tokens: ints(full), Start: len(prompt)}, nil
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
		toks = append(toks, tok.EOS())
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
