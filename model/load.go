package model

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
)

// readModel reads the hyperparameters and binds the tensors of f, by the
// names its architecture registered (model/arch).
func readModel(f *gguf.File) (arch.Config, arch.Weights, error) {
	var cfg arch.Config
	var w arch.Weights
	name := f.Architecture()
	fam, err := arch.Lookup(name)
	if err != nil {
		return cfg, w, err
	}
	cfg.Arch, cfg.Family = name, fam
	keys, names := &fam.Keys, &fam.Tensors
	// an optional key a family leaves empty is never in a file: gguf
	// keys are not empty
	u := func(key string, def int) (int, error) {
		v, ok := metaUint(f, key)
		if !ok {
			if def >= 0 {
				return def, nil
			}
			return 0, fmt.Errorf("%w: metadata %s is missing", arch.ErrBadModel, key)
		}
		if v > 1<<31 {
			return 0, fmt.Errorf("%w: metadata %s = %d is too large", arch.ErrBadModel, key, v)
		}
		return int(v), nil
	}
	for _, p := range []struct {
		dst *int
		key string
		def int
	}{
		{&cfg.Layers, keys.BlockCount, -1},
		{&cfg.Hidden, keys.EmbeddingLength, -1},
		{&cfg.FFN, keys.FeedForwardLength, -1},
		{&cfg.Heads, keys.HeadCount, -1},
		{&cfg.ContextLength, keys.ContextLength, 0},
	} {
		if *p.dst, err = u(p.key, p.def); err != nil {
			return cfg, w, err
		}
	}
	if cfg.KVHeads, err = u(keys.HeadCountKV, cfg.Heads); err != nil {
		return cfg, w, err
	}
	defHead := 0
	if cfg.Heads > 0 {
		defHead = cfg.Hidden / cfg.Heads
	}
	if cfg.HeadDim, err = u(keys.KeyLength, defHead); err != nil {
		return cfg, w, err
	}
	if cfg.ValueDim, err = u(keys.ValueLength, cfg.HeadDim); err != nil {
		return cfg, w, err
	}
	if cfg.RopeDim, err = u(keys.RopeDimensions, cfg.HeadDim); err != nil {
		return cfg, w, err
	}
	eps, ok := metaFloat(f, keys.RMSEpsilon)
	if !ok {
		return cfg, w, fmt.Errorf("%w: metadata %s is missing", arch.ErrBadModel, keys.RMSEpsilon)
	}
	cfg.Eps = float32(eps)
	cfg.RopeBase = 10000
	if v, ok := metaFloat(f, keys.RopeFreqBase); ok {
		cfg.RopeBase = float32(v)
	}
	cfg.RopeFreqScale = 1
	if typ, _ := metaString(f, keys.RopeScalingType); typ == "linear" {
		if v, ok := metaFloat(f, keys.RopeScalingFactor); ok && v > 0 {
			cfg.RopeFreqScale = float32(1 / v)
		}
	} else if typ != "" && typ != "none" && typ != "llama3" {
		return cfg, w, fmt.Errorf("%w: rope scaling %q (chatloop applies linear and llama3 rope_freqs)", arch.ErrUnsupported, typ)
	}

	emb, err := matrix(f, names.Embedding)
	if err != nil {
		return cfg, w, err
	}
	w.Embedding = emb
	cfg.Vocab = emb.Rows
	if w.OutputNorm, err = vector(f, names.OutputNorm, false); err != nil {
		return cfg, w, err
	}
	if _, ok := f.Tensor(names.Output); ok {
		if w.Output, err = matrix(f, names.Output); err != nil {
			return cfg, w, err
		}
	} else {
		w.Output = emb // tied embeddings
	}
	if names.RopeFreqs != "" {
		if w.RopeFreqs, err = vector(f, names.RopeFreqs, true); err != nil {
			return cfg, w, err
		}
	}
	w.Layers = make([]arch.Layer, cfg.Layers)
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf(names.Block, i)
		for _, m := range layerMatrices(l, names) {
			if *m.m, err = matrix(f, p+m.name); err != nil {
				return cfg, w, err
			}
		}
		for _, v := range []struct {
			dst      *[]float32
			name     string
			optional bool
		}{
			{&l.AttnNorm, names.AttnNorm, false}, {&l.FFNNorm, names.FFNNorm, false},
			{&l.QBias, names.QBias, true}, {&l.KBias, names.KBias, true}, {&l.VBias, names.VBias, true},
			{&l.QNorm, names.QNorm, !fam.QKNorm}, {&l.KNorm, names.KNorm, !fam.QKNorm},
		} {
			if v.name == "" { // an optional tensor the family does not have
				continue
			}
			if *v.dst, err = vector(f, p+v.name, v.optional); err != nil {
				return cfg, w, err
			}
		}
	}
	return cfg, w, nil
}

// namedMatrix is a weight matrix and its tensor's name (in a block, the
// name after the block prefix "blk.N.").
type namedMatrix struct {
	name string
	m    *arch.Matrix
}

// layerMatrices lists a block's weight matrices under the family's names.
func layerMatrices(l *arch.Layer, names *arch.TensorNames) [7]namedMatrix {
	return [7]namedMatrix{
		{names.Q, &l.Q}, {names.K, &l.K}, {names.V, &l.V}, {names.Out, &l.Out},
		{names.FFNGate, &l.FFNGate}, {names.FFNUp, &l.FFNUp}, {names.FFNDown, &l.FFNDown},
	}
}

// matrix binds a 2-D tensor to its mapped bytes.
func matrix(f *gguf.File, name string) (arch.Matrix, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return arch.Matrix{}, fmt.Errorf("%w: tensor %s is missing", arch.ErrBadModel, name)
	}
	if len(t.Dims) != 2 {
		return arch.Matrix{}, fmt.Errorf("%w: tensor %s has %d dimensions, want 2", arch.ErrBadModel, name, len(t.Dims))
	}
	if err := arch.CheckType(name, t.Type); err != nil {
		return arch.Matrix{}, err
	}
	if t.Dims[0] > 1<<31 || t.Dims[1] > 1<<31 {
		return arch.Matrix{}, fmt.Errorf("%w: tensor %s is too large", arch.ErrBadModel, name)
	}
	data, err := f.TensorData(name)
	if err != nil {
		return arch.Matrix{}, err
	}
	return arch.Matrix{Type: t.Type, Data: data, Rows: int(t.Dims[1]), Cols: int(t.Dims[0])}, nil
}

// vector reads a 1-D tensor (norm weights, biases) as float32: an F32
// tensor is used where it lies in the mapping, as the matrices are (no
// copy on the heap; the model must not be used after the file is closed
// either way), any other type is converted.
func vector(f *gguf.File, name string, optional bool) ([]float32, error) {
	t, ok := f.Tensor(name)
	if !ok {
		if optional {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: tensor %s is missing", arch.ErrBadModel, name)
	}
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	if len(t.Dims) != 1 || n > 1<<24 {
		return nil, fmt.Errorf("%w: tensor %s has shape %v, want a vector", arch.ErrBadModel, name, t.Dims)
	}
	if err := arch.CheckType(name, t.Type); err != nil {
		return nil, err
	}
	data, err := f.TensorData(name)
	if err != nil {
		return nil, err
	}
	if t.Type == ggml.F32 && n > 0 && littleEndian && uintptr(unsafe.Pointer(&data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&data[0])), n), nil
	}
	out := make([]float32, n)
	if err := ggml.Dequantize(t.Type, data, out); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return out, nil
}

// littleEndian: the machine stores a float32 the way GGUF does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// pickTemplate chooses the chat template: the override if given, else the
// one recognised from tokenizer.chat_template, else the family's usual one
// (reported through the returned warning).
func pickTemplate(f *gguf.File, fam arch.Family, override string) (chat.Template, string, error) {
	if override != "" {
		t, err := chat.ByName(override)
		if err != nil {
			return nil, "", fmt.Errorf("template: %w", err)
		}
		return t, "", nil
	}
	text, _ := metaString(f, "tokenizer.chat_template")
	t, err := chat.Detect(text)
	if err == nil {
		return t, "", nil
	}
	name := fam.Template
	t, terr := chat.ByName(name)
	if terr != nil {
		return nil, "", fmt.Errorf("template: architecture %s falls back on %w", fam.Name, terr)
	}
	return t, fmt.Sprintf("%v; using %s (set [model] template to choose)", err, name), nil
}
