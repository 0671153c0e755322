package model

import (
	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/gguf"
)

// ReadWeights reads the hyperparameters of f and binds its tensors in
// file layout, memory-mapped and not repacked, for code that works on the
// weights itself (model/train trains adapters on them). The weights must
// not be used after f is closed.
func ReadWeights(f *gguf.File) (arch.Config, arch.Weights, error) { return readModel(f) }
