package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/tokenizer"
)

// Info describes a loaded model.
type Info struct {
	Arch          string         `json:"arch"`
	Name          string         `json:"name"`           // general.name, else the file name
	Params        int64          `json:"params"`         // number of weights
	TensorTypes   map[string]int `json:"tensor_types"`   // tensors per type
	ContextLength int            `json:"context_length"` // trained context length (metadata)
	Context       int            `json:"context"`        // the engine's context window
	Template      string         `json:"template"`
	VocabSize     int            `json:"vocab_size"`
	Quantization  string         `json:"quantization"` // general.file_type's name, else the dominant type
	FileSize      int64          `json:"file_size"`    // bytes
	Layers        int            `json:"layers"`
	Hidden        int            `json:"hidden"`
	Heads         int            `json:"heads"`
	KVHeads       int            `json:"kv_heads"`
	FFN           int            `json:"ffn"`
	// RepackedBytes is the size of the weight matrices rewritten at load
	// in a packed layout (Options.Repack), RepackedMatrices their
	// number; 0 when none were.
	RepackedBytes    int64 `json:"repacked_bytes"`
	RepackedMatrices int   `json:"repacked_matrices"`
	// PackCache is the pack cache file the packed matrices were mapped
	// from (Options.PackCache); empty when they were packed at load.
	PackCache string `json:"pack_cache,omitempty"`
	// Kernels names the matrix kernels the engine runs (ggml's kernel
	// set: "avx512-vnni packed", "avx2", "go"...).
	Kernels string `json:"kernels"`
	// Adapters are the LoRA adapters served with the model.
	Adapters []AdapterInfo `json:"adapters,omitempty"`
}

// Info describes the model.
func (e *Engine) Info() Info { return e.info }

// Path is the model file the engine was loaded from.
func (e *Engine) Path() string { return e.path }

// FileSHA256 returns the hex SHA-256 of the model file. It is computed in
// the background from Load on, so that loading a large file stays quick;
// the first call waits for it to finish.
func (e *Engine) FileSHA256() (string, error) { return e.hash.wait() }

// fileTypes names llama.cpp's general.file_type values (enum llama_ftype).
var fileTypes = map[uint64]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
	16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}

func describe(f *gguf.File, cfg arch.Config, tmpl chat.Template, tok *tokenizer.Tokenizer) Info {
	info := Info{
		Arch: cfg.Arch, ContextLength: cfg.ContextLength, Template: tmpl.Name(), VocabSize: tok.VocabSize(),
		TensorTypes: map[string]int{}, Layers: cfg.Layers, Hidden: cfg.Hidden, Heads: cfg.Heads, KVHeads: cfg.KVHeads, FFN: cfg.FFN,
	}
	info.Name, _ = metaString(f, "general.name")
	elems := map[string]int64{}
	for _, t := range f.Tensors {
		n := int64(1)
		for _, d := range t.Dims {
			n *= int64(d)
		}
		info.Params += n
		info.TensorTypes[t.Type.String()]++
		if len(t.Dims) == 2 {
			elems[t.Type.String()] += n
		}
	}
	if ft, ok := metaUint(f, "general.file_type"); ok && fileTypes[ft] != "" {
		info.Quantization = fileTypes[ft]
	} else {
		names := make([]string, 0, len(elems))
		for n := range elems {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if info.Quantization == "" || elems[n] > elems[info.Quantization] {
				info.Quantization = n
			}
		}
	}
	return info
}

// fileHash computes a file's SHA-256 in the background.
type fileHash struct {
	done   chan struct{}
	sum    string
	err    error
	cancel context.CancelFunc
}

func hashFile(path string) *fileHash {
	ctx, cancel := context.WithCancel(context.Background())
	h := &fileHash{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(h.done)
		h.sum, h.err = sha256File(ctx, path)
	}()
	return h
}

func (h *fileHash) wait() (string, error) {
	<-h.done
	return h.sum, h.err
}

func sha256File(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("hashing %s: %w", path, err)
		}
		n, err := f.Read(buf)
		s.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(s.Sum(nil)), nil
		}
		if err != nil {
			return "", fmt.Errorf("hashing %s: %w", path, err)
		}
	}
}
