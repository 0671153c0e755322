package arch

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Family is what an architecture registers: the switches that set it apart
// in the forward pass, where its tensors and hyperparameters are in a GGUF
// file, and the chat template to fall back on. A Llama-like family is one
// file that calls Register from an init function:
//
//	func init() {
//		Register(Family{
//			Name: "qwen2", RopeNeox: true,
//			Tensors: LlamaTensors, Keys: LlamaKeys("qwen2"), Template: "chatml",
//		})
//	}
type Family struct {
	// Name is the file's general.architecture.
	Name string
	// RopeNeox rotates pairs (i, i+d/2) (GPT-NeoX layout) rather than
	// (2i, 2i+1).
	RopeNeox bool
	// QKNorm applies a per-head RMSNorm to queries and keys before RoPE;
	// the attn_q_norm and attn_k_norm tensors are then required.
	QKNorm bool
	// Tensors names the weights.
	Tensors TensorNames
	// Keys names the hyperparameters.
	Keys MetaKeys
	// Template is the chat template (a model/chat name: "chatml",
	// "llama3") used when the file's tokenizer.chat_template is missing or
	// not recognised.
	Template string
}

// TensorNames are the GGUF names of a family's tensors. Block tensors are
// named Block (a format with one %d, the layer) followed by the field's
// name.
type TensorNames struct {
	Embedding, OutputNorm string
	// Output is the LM head; when the file has no such tensor the
	// embedding is used (tied weights).
	Output string
	// RopeFreqs holds per-dimension rope frequency factors (optional).
	RopeFreqs string
	Block     string

	AttnNorm, Q, K, V, Out string
	// QBias, KBias and VBias are optional.
	QBias, KBias, VBias string
	// QNorm and KNorm are read when the family has QKNorm.
	QNorm, KNorm            string
	FFNNorm, FFNGate, FFNUp string
	FFNDown                 string
}

// LlamaTensors are the tensor names llama.cpp gives the Llama-like
// families (LLM_TENSOR_NAMES).
var LlamaTensors = TensorNames{
	Embedding: "token_embd.weight", OutputNorm: "output_norm.weight", Output: "output.weight",
	RopeFreqs: "rope_freqs.weight", Block: "blk.%d.",
	AttnNorm: "attn_norm.weight", Q: "attn_q.weight", K: "attn_k.weight", V: "attn_v.weight", Out: "attn_output.weight",
	QBias: "attn_q.bias", KBias: "attn_k.bias", VBias: "attn_v.bias",
	QNorm: "attn_q_norm.weight", KNorm: "attn_k_norm.weight",
	FFNNorm: "ffn_norm.weight", FFNGate: "ffn_gate.weight", FFNUp: "ffn_up.weight", FFNDown: "ffn_down.weight",
}

// MetaKeys are the GGUF metadata keys of a family's hyperparameters. An
// optional key that is absent takes the default its field's comment
// gives.
type MetaKeys struct {
	BlockCount, EmbeddingLength, FeedForwardLength, HeadCount string
	// ContextLength: 0 (unknown) when absent.
	ContextLength string
	// HeadCountKV: HeadCount when absent.
	HeadCountKV string
	// KeyLength: EmbeddingLength/HeadCount when absent; ValueLength:
	// KeyLength when absent.
	KeyLength, ValueLength string
	// RopeDimensions: KeyLength when absent.
	RopeDimensions string
	RMSEpsilon     string
	// RopeFreqBase: 10000 when absent.
	RopeFreqBase string
	// RopeScalingType ("linear" scales by 1/RopeScalingFactor; "none",
	// "llama3" and absent leave positions as they are).
	RopeScalingType, RopeScalingFactor string
}

// LlamaKeys are the metadata keys llama.cpp writes for a Llama-like
// family: prefix is the architecture's name ("qwen2.block_count").
func LlamaKeys(prefix string) MetaKeys {
	k := func(s string) string { return prefix + "." + s }
	return MetaKeys{
		BlockCount: k("block_count"), EmbeddingLength: k("embedding_length"),
		FeedForwardLength: k("feed_forward_length"), HeadCount: k("attention.head_count"),
		ContextLength: k("context_length"), HeadCountKV: k("attention.head_count_kv"),
		KeyLength: k("attention.key_length"), ValueLength: k("attention.value_length"),
		RopeDimensions: k("rope.dimension_count"), RMSEpsilon: k("attention.layer_norm_rms_epsilon"),
		RopeFreqBase: k("rope.freq_base"), RopeScalingType: k("rope.scaling.type"),
		RopeScalingFactor: k("rope.scaling.factor"),
	}
}

var registry struct {
	sync.RWMutex
	m map[string]Family
}

// Register makes a family available by its name, as sql.Register does
// drivers. It panics when the name is empty or taken, or when a required
// tensor name, metadata key or the template is missing: those are
// programming errors, found when the package is first imported.
func Register(f Family) {
	if err := f.check(); err != nil {
		panic(fmt.Sprintf("arch: Register: %v", err))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[f.Name]; dup {
		panic(fmt.Sprintf("arch: Register called twice for %q", f.Name))
	}
	if registry.m == nil {
		registry.m = map[string]Family{}
	}
	registry.m[f.Name] = f
}

// check reports the first required field f leaves empty.
func (f *Family) check() error {
	t, k := &f.Tensors, &f.Keys
	if f.Name == "" {
		return fmt.Errorf("a family without a name")
	}
	for _, c := range []struct{ what, v string }{
		{"tensor name Embedding", t.Embedding}, {"tensor name OutputNorm", t.OutputNorm}, {"tensor name Output", t.Output},
		{"tensor name Block", t.Block}, {"tensor name AttnNorm", t.AttnNorm}, {"tensor name Q", t.Q}, {"tensor name K", t.K},
		{"tensor name V", t.V}, {"tensor name Out", t.Out}, {"tensor name FFNNorm", t.FFNNorm},
		{"tensor name FFNGate", t.FFNGate}, {"tensor name FFNUp", t.FFNUp}, {"tensor name FFNDown", t.FFNDown},
		{"metadata key BlockCount", k.BlockCount}, {"metadata key EmbeddingLength", k.EmbeddingLength},
		{"metadata key FeedForwardLength", k.FeedForwardLength}, {"metadata key HeadCount", k.HeadCount},
		{"metadata key RMSEpsilon", k.RMSEpsilon}, {"Template", f.Template},
	} {
		if c.v == "" {
			return fmt.Errorf("%s: no %s", f.Name, c.what)
		}
	}
	if strings.Count(t.Block, "%d") != 1 || strings.Count(t.Block, "%") != 1 {
		return fmt.Errorf("%s: block tensor prefix %q must hold one %%d", f.Name, t.Block)
	}
	if f.QKNorm && (t.QNorm == "" || t.KNorm == "") {
		return fmt.Errorf("%s: QKNorm without QNorm and KNorm tensor names", f.Name)
	}
	return nil
}

// Supported lists the registered architectures, sorted.
func Supported() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the family registered as name, or an error (wrapping
// ErrUnsupported) listing the supported ones.
func Lookup(name string) (Family, error) {
	registry.RLock()
	f, ok := registry.m[name]
	registry.RUnlock()
	if !ok {
		return Family{}, fmt.Errorf("%w architecture %q: chatloop runs %s", ErrUnsupported, name, strings.Join(Supported(), ", "))
	}
	return f, nil
}
