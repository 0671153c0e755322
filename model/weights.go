package model

import (
	"errors"

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
// Options.NoRepack, whose weights are in file layout. The weights must
// not be used after the engine is closed.
func (e *Engine) Weights() (arch.Config, *arch.Weights, error) {
	if e.packed != nil {
		return arch.Config{}, nil, errors.New("model: the weights are repacked; load with NoRepack to train on them")
	}
	return e.model.Config, &e.model.W, nil
}

// ConversationTokens returns the tokens of a finished conversation as the
// chat template renders it (no assistant opening after the last message),
// with special tokens recognised only in the template's markup: a prompt's
// PromptTokens followed by an assistant answer's tokens and the template's
// end of turn.
func (e *Engine) ConversationTokens(msgs []Message) []int32 {
	return e.templateTokens(chatMessages(msgs), false)
}

// AdapterShapes describes the base for checking an adapter file against it
// (lora.Adapter.Check).
func (e *Engine) AdapterShapes() lora.BaseShapes { return lora.ShapesOf(e.path, e.file) }
