package model

import (
	"errors"
	"fmt"
	"strings"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/lora"
)

// ReadWeights reads the hyperparameters of f and binds its tensors in
// file layout, memory-mapped and not repacked, for code that works on the
// weights itself (model/train trains adapters on them). The weights must
// not be used after f is closed.
func ReadWeights(f *gguf.File) (arch.Config, arch.Weights, error) { return readModel(f) }

// Weights returns the engine's hyperparameters and weights, for training
// adapters on them (model/train). It needs an engine loaded with
// Options.Repack = RepackOff, whose weights are in file layout. The weights must
// not be used after the engine is closed.
func (e *Engine) Weights() (arch.Config, *arch.Weights, error) {
	if e.packed != nil {
		return arch.Config{}, nil, errors.New("model: the weights are repacked; load with RepackOff to train on them")
	}
	return e.model.Config, &e.model.W, nil
}

// AnswerTokens returns the tokens of answer as the assistant's turn after
// the prompt msgs: the answer's text tokenized on its own (as the model
// generated it after the prompt's tokens, and as TRL's DPOTrainer
// tokenizes a completion apart from its prompt), followed by the tokens
// of what the chat template writes after an assistant message (its end of
// turn).
func (e *Engine) AnswerTokens(msgs []Message, answer string) ([]int32, error) {
	prompt := e.tmpl.Render(chatMessages(msgs), true)
	full := e.tmpl.Render(chatMessages(append(msgs[:len(msgs):len(msgs)], Message{Role: "assistant", Content: answer})), false)
	if !strings.HasPrefix(full, prompt+answer) {
		return nil, fmt.Errorf("model: the %s template does not write an answer right after its prompt", e.tmpl.Name())
	}
	end := full[len(prompt)+len(answer):]
	return append(e.tok.Tokenize(answer, false, false), e.tok.Tokenize(end, false, true)...), nil
}

// AdapterShapes describes the base for checking an adapter file against it
// (lora.Adapter.Check).
func (e *Engine) AdapterShapes() lora.BaseShapes { return lora.ShapesOf(e.path, e.file) }
