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

// readModel reads the hyperparameters and binds the tensors of f.
func readModel(f *gguf.File) (arch.Config, arch.Weights, error) {
	var cfg arch.Config
	var w arch.Weights
	name := f.Architecture()
	fam, err := arch.Lookup(name)
	if err != nil {
		return cfg, w, err
	}
	cfg.Arch, cfg.Family = name, fam
	u := func(key string, def int) (int, error) {
		v, ok := metaUint(f, name+"."+key)
		if !ok {
			if def >= 0 {
				return def, nil
			}
			return 0, fmt.Errorf("%w: metadata %s.%s is missing", arch.ErrBadModel, name, key)
		}
		if v > 1<<31 {
			return 0, fmt.Errorf("%w: metadata %s.%s = %d is too large", arch.ErrBadModel, name, key, v)
		}
		return int(v), nil
	}
	for _, p := range []struct {
		dst *int
		key string
		def int
	}{
		{&cfg.Layers, "block_count", -1},
		{&cfg.Hidden, "embedding_length", -1},
		{&cfg.FFN, "feed_forward_length", -1},
		{&cfg.Heads, "attention.head_count", -1},
		{&cfg.ContextLength, "context_length", 0},
	} {
		if *p.dst, err = u(p.key, p.def); err != nil {
			return cfg, w, err
		}
	}
	if cfg.KVHeads, err = u("attention.head_count_kv", cfg.Heads); err != nil {
		return cfg, w, err
	}
	defHead := 0
	if cfg.Heads > 0 {
		defHead = cfg.Hidden / cfg.Heads
	}
	if cfg.HeadDim, err = u("attention.key_length", defHead); err != nil {
		return cfg, w, err
	}
	if cfg.ValueDim, err = u("attention.value_length", cfg.HeadDim); err != nil {
		return cfg, w, err
	}
	if cfg.RopeDim, err = u("rope.dimension_count", cfg.HeadDim); err != nil {
		return cfg, w, err
	}
	eps, ok := metaFloat(f, name+".attention.layer_norm_rms_epsilon")
	if !ok {
		return cfg, w, fmt.Errorf("%w: metadata %s.attention.layer_norm_rms_epsilon is missing", arch.ErrBadModel, name)
	}
	cfg.Eps = float32(eps)
	cfg.RopeBase = 10000
	if v, ok := metaFloat(f, name+".rope.freq_base"); ok {
		cfg.RopeBase = float32(v)
	}
	cfg.RopeFreqScale = 1
	if typ, _ := metaString(f, name+".rope.scaling.type"); typ == "linear" {
		if v, ok := metaFloat(f, name+".rope.scaling.factor"); ok && v > 0 {
			cfg.RopeFreqScale = float32(1 / v)
		}
	} else if typ != "" && typ != "none" && typ != "llama3" {
		return cfg, w, fmt.Errorf("%w: rope scaling %q (chatloop applies linear and llama3 rope_freqs)", arch.ErrUnsupported, typ)
	}

	emb, err := matrix(f, "token_embd.weight")
	if err != nil {
		return cfg, w, err
	}
	w.Embedding = emb
	cfg.Vocab = emb.Rows
	if w.OutputNorm, err = vector(f, "output_norm.weight", false); err != nil {
		return cfg, w, err
	}
	if _, ok := f.Tensor("output.weight"); ok {
		if w.Output, err = matrix(f, "output.weight"); err != nil {
			return cfg, w, err
		}
	} else {
		w.Output = emb // tied embeddings
	}
	if w.RopeFreqs, err = vector(f, "rope_freqs.weight", true); err != nil {
		return cfg, w, err
	}
	w.Layers = make([]arch.Layer, cfg.Layers)
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		for _, m := range layerMatrices(l) {
			if *m.m, err = matrix(f, p+m.name); err != nil {
				return cfg, w, err
			}
		}
		for _, v := range []struct {
			dst      *[]float32
			name     string
			optional bool
		}{
			{&l.AttnNorm, "attn_norm.weight", false}, {&l.FFNNorm, "ffn_norm.weight", false},
			{&l.QBias, "attn_q.bias", true}, {&l.KBias, "attn_k.bias", true}, {&l.VBias, "attn_v.bias", true},
			{&l.QNorm, "attn_q_norm.weight", !fam.QKNorm}, {&l.KNorm, "attn_k_norm.weight", !fam.QKNorm},
		} {
			if *v.dst, err = vector(f, p+v.name, v.optional); err != nil {
				return cfg, w, err
			}
		}
	}
	return cfg, w, nil
}

// namedMatrix is a weight matrix and its tensor's name (in a block, the
// name after "blk.N.").
type namedMatrix struct {
	name string
	m    *arch.Matrix
}

// layerMatrices lists a block's weight matrices.
func layerMatrices(l *arch.Layer) [7]namedMatrix {
	return [7]namedMatrix{
		{"attn_q.weight", &l.Q}, {"attn_k.weight", &l.K}, {"attn_v.weight", &l.V}, {"attn_output.weight", &l.Out},
		{"ffn_gate.weight", &l.FFNGate}, {"ffn_up.weight", &l.FFNUp}, {"ffn_down.weight", &l.FFNDown},
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
func pickTemplate(f *gguf.File, override string) (chat.Template, string, error) {
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
	name := "chatml"
	if f.Architecture() == "llama" {
		name = "llama3"
	}
	t, _ = chat.ByName(name)
	return t, fmt.Sprintf("%v; using %s (set [model] template to choose)", err, name), nil
}
