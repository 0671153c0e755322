// Package lora reads and writes LoRA adapters in llama.cpp's GGUF adapter
// format, the one llama.cpp's convert_lora_to_gguf.py writes from PEFT and
// llama-cli --lora (or node-llama-cpp's lora option) reads:
//
//   - metadata general.type = "adapter", adapter.type = "lora",
//     adapter.lora.alpha (float32) and general.architecture (the base's);
//   - for each adapted base weight W of ggml shape ne [in, out] (out rows
//     of in values), two tensors named after it: "<name>.lora_a" of ne
//     [in, rank] and "<name>.lora_b" of ne [rank, out];
//   - the adapted weight is W + scale·(alpha/rank)·B·A, where scale is the
//     user's (1 by default); an alpha of 0 (or none) means scale alone, as
//     in llama.cpp.
//
// The token embedding is the exception llama.cpp makes: its pair is stored
// flipped (lora_a ne [rank, vocab], lora_b ne [rank, hidden]). Read and
// Write turn it into the same Pair form as every other weight, so that
// users of this package see one convention.
//
// Tensors are written as F32; Read also takes F16, BF16 and the quantized
// types (convert_lora_to_gguf.py writes F16 by default). Tensors whose
// names end in "_norm.weight" are skipped, as llama.cpp skips them.
package lora

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/chatloop/chatloop/model/ggml"
)

// Metadata keys and values of the format.
const (
	KeyGeneralType = "general.type"
	KeyArch        = "general.architecture"
	KeyName        = "general.name"
	KeyAdapterType = "adapter.type"
	KeyAlpha       = "adapter.lora.alpha"

	GeneralTypeAdapter = "adapter"
	AdapterTypeLoRA    = "lora"

	SuffixA = ".lora_a"
	SuffixB = ".lora_b"

	// TokenEmbd is the base tensor whose pair llama.cpp stores flipped.
	TokenEmbd = "token_embd.weight"
)

// Errors, wrapped with what is wrong and where.
var (
	// ErrFormat: the file is not a well-formed LoRA adapter.
	ErrFormat = errors.New("lora: not a valid LoRA adapter")
	// ErrMismatch: the adapter was made for another base model.
	ErrMismatch = errors.New("lora: adapter does not fit the base model")
)

// Pair is the low-rank update of one base weight. The base weight has Out
// rows of In values (ggml ne [In, Out]); its update is B·A, Out×In.
type Pair struct {
	Name          string // base tensor name, e.g. "blk.0.attn_q.weight"
	In, Out, Rank int
	A             []float32 // Rank×In, row-major: A[r*In+i]
	B             []float32 // Out×Rank, row-major: B[o*Rank+r]
	// Type is the ggml type A and B were stored in (Read sets it; F32,
	// the zero value, for Write's files, F16 for convert_lora_to_gguf.py's
	// default). A and B hold their values exactly, so an engine can
	// multiply in that type as llama.cpp does. Write ignores it.
	Type ggml.Type
}

// Adapter is a LoRA adapter: one Pair per adapted base weight.
type Adapter struct {
	Arch  string  // general.architecture of the base it was made for
	Alpha float32 // adapter.lora.alpha; 0: the delta is not scaled by alpha/rank
	Pairs []*Pair // sorted by Name
	// Name is general.name (optional).
	Name string
	// SHA256 is the hex SHA-256 of the file, set by Read.
	SHA256 string
	// Path is the file Read read it from.
	Path string
}

// Factor is the multiplier of B·A for p at user scale 1: Alpha/Rank, or 1
// when Alpha is 0, as llama.cpp computes it.
func (a *Adapter) Factor(p *Pair) float32 {
	if a.Alpha == 0 {
		return 1
	}
	return a.Alpha / float32(p.Rank)
}

// Pair returns the pair of base tensor name, or nil.
func (a *Adapter) Pair(name string) *Pair {
	i, ok := slices.BinarySearchFunc(a.Pairs, name, func(p *Pair, n string) int { return strings.Compare(p.Name, n) })
	if !ok {
		return nil
	}
	return a.Pairs[i]
}

// ShortName is a short label of the adapter for logs and records: "+",
// the file's base name without extension, "-" and the first 4 hex digits
// of its SHA-256, e.g. "+tuned-3f2a".
func (a *Adapter) ShortName() string {
	base := strings.TrimSuffix(filepath.Base(a.Path), filepath.Ext(a.Path))
	if a.Path == "" {
		base = a.Name
	}
	if base == "" {
		base = "lora"
	}
	if len(a.SHA256) >= 4 {
		return "+" + base + "-" + a.SHA256[:4]
	}
	return "+" + base
}

// AddDeltaRow adds scale·Factor(p)·(B·A)[o], row o of the update, to
// dst (len p.In).
func (a *Adapter) AddDeltaRow(dst []float32, p *Pair, o int, scale float32) {
	f := scale * a.Factor(p)
	b := p.B[o*p.Rank : (o+1)*p.Rank]
	for r, br := range b {
		c := f * br
		if c == 0 {
			continue
		}
		ar := p.A[r*p.In : (r+1)*p.In]
		for i := range dst {
			dst[i] += c * ar[i]
		}
	}
}

// Validate checks that a is complete and consistent: an architecture,
// a finite non-negative alpha, pairs sorted by unique names, positive
// dimensions, A and B of the sizes they state and finite values.
func (a *Adapter) Validate() error {
	if a.Arch == "" {
		return fmt.Errorf("%w: no architecture (%s)", ErrFormat, KeyArch)
	}
	if !finite(a.Alpha) || a.Alpha < 0 {
		return fmt.Errorf("%w: %s is %v (want a finite number ≥ 0)", ErrFormat, KeyAlpha, a.Alpha)
	}
	if len(a.Pairs) == 0 {
		return fmt.Errorf("%w: no tensor pairs", ErrFormat)
	}
	for i, p := range a.Pairs {
		if p == nil {
			return fmt.Errorf("%w: pair %d is nil", ErrFormat, i)
		}
		if i > 0 && a.Pairs[i-1].Name >= p.Name {
			return fmt.Errorf("%w: pairs not sorted by unique name (%q after %q)", ErrFormat, p.Name, a.Pairs[i-1].Name)
		}
		if err := p.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pair) validate() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("%w: a pair has no name", ErrFormat)
	case p.In <= 0 || p.Out <= 0 || p.Rank <= 0:
		return fmt.Errorf("%w: %s: in %d, out %d, rank %d (each must be > 0)", ErrFormat, p.Name, p.In, p.Out, p.Rank)
	case p.Rank > p.In && p.Rank > p.Out:
		return fmt.Errorf("%w: %s: rank %d exceeds both dimensions (%d×%d)", ErrFormat, p.Name, p.Rank, p.Out, p.In)
	case len(p.A) != p.Rank*p.In:
		return fmt.Errorf("%w: %s: A has %d values, want rank %d × in %d", ErrFormat, p.Name, len(p.A), p.Rank, p.In)
	case len(p.B) != p.Out*p.Rank:
		return fmt.Errorf("%w: %s: B has %d values, want out %d × rank %d", ErrFormat, p.Name, len(p.B), p.Out, p.Rank)
	}
	for _, m := range []struct {
		name string
		v    []float32
	}{{"A", p.A}, {"B", p.B}} {
		for i, x := range m.v {
			if !finite(x) {
				return fmt.Errorf("%w: %s: %s[%d] is %v", ErrFormat, p.Name, m.name, i, x)
			}
		}
	}
	return nil
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

// Read reads and validates the adapter file at path, and records its
// SHA-256 and path. A truncated or corrupt file gives an error wrapping
// ErrFormat that says what is wrong.
func Read(path string) (*Adapter, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	a, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	a.SHA256 = hex.EncodeToString(sum[:])
	a.Path = path
	return a, nil
}

// BaseShapes is what Check needs to know of a base model: its
// architecture, a name for messages and the ggml shape (ne) of each of its
// tensors.
type BaseShapes struct {
	Name    string // for messages: the file or model name
	Arch    string
	Tensors map[string][]uint64
}

// Check refuses an adapter made for another base: another architecture,
// a tensor the base lacks or one of another shape. The error wraps
// ErrMismatch and names both the adapter and the base.
func (a *Adapter) Check(base BaseShapes) error {
	who := a.Path
	if who == "" {
		who = a.ShortName()
	}
	if a.Arch != base.Arch {
		return fmt.Errorf("%w: adapter %s was made for a %s model; base %s is %s", ErrMismatch, who, a.Arch, base.Name, base.Arch)
	}
	for _, p := range a.Pairs {
		dims, ok := base.Tensors[p.Name]
		if !ok {
			return fmt.Errorf("%w: adapter %s adapts %s, which base %s (%s) does not have", ErrMismatch, who, p.Name, base.Name, base.Arch)
		}
		in, out := uint64(0), uint64(1)
		if len(dims) > 0 {
			in = dims[0]
		}
		for _, d := range dims[min(1, len(dims)):] {
			out *= d
		}
		if len(dims) < 2 || in != uint64(p.In) || out != uint64(p.Out) {
			return fmt.Errorf("%w: adapter %s adapts %s as ne [%d %d]; in base %s (%s) it is ne %v", ErrMismatch, who, p.Name, p.In, p.Out, base.Name, base.Arch, dims)
		}
	}
	return nil
}
