package lora

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
)

// Parse decodes and validates an adapter from the bytes of a GGUF file.
// Errors wrap ErrFormat (or the gguf package's ErrMalformed/ErrUnsupported
// for bytes that are not a readable GGUF file).
func Parse(data []byte) (*Adapter, error) {
	f, err := gguf.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	defer f.Close()
	if t, _ := f.String(KeyGeneralType); t != GeneralTypeAdapter {
		return nil, fmt.Errorf("%w: %s is %q, want %q (is this a model rather than an adapter?)", ErrFormat, KeyGeneralType, t, GeneralTypeAdapter)
	}
	if t, _ := f.String(KeyAdapterType); t != AdapterTypeLoRA {
		return nil, fmt.Errorf("%w: %s is %q, want %q", ErrFormat, KeyAdapterType, t, AdapterTypeLoRA)
	}
	a := &Adapter{Arch: f.Architecture()}
	a.Name, _ = f.String(KeyName)
	if v, ok := f.Get(KeyAlpha); ok {
		alpha, ok := v.Float()
		if !ok {
			return nil, fmt.Errorf("%w: %s is %s, want a float", ErrFormat, KeyAlpha, v.Describe())
		}
		a.Alpha = float32(alpha)
	}

	type half struct{ a, b *gguf.TensorInfo }
	halves := map[string]*half{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		var base string
		var isA bool
		switch {
		case strings.HasSuffix(t.Name, SuffixA):
			base, isA = strings.TrimSuffix(t.Name, SuffixA), true
		case strings.HasSuffix(t.Name, SuffixB):
			base = strings.TrimSuffix(t.Name, SuffixB)
		case strings.HasSuffix(t.Name, "_norm.weight"):
			continue // llama.cpp skips norm vectors too
		default:
			return nil, fmt.Errorf("%w: tensor %q is neither %s nor %s", ErrFormat, t.Name, SuffixA, SuffixB)
		}
		h := halves[base]
		if h == nil {
			h = &half{}
			halves[base] = h
		}
		if isA {
			h.a = t
		} else {
			h.b = t
		}
	}
	for name, h := range halves {
		if h.a == nil || h.b == nil {
			return nil, fmt.Errorf("%w: %s has only one of %s and %s", ErrFormat, name, SuffixA, SuffixB)
		}
		p, err := readPair(f, name, h.a, h.b)
		if err != nil {
			return nil, err
		}
		a.Pairs = append(a.Pairs, p)
	}
	slices.SortFunc(a.Pairs, func(x, y *Pair) int { return strings.Compare(x.Name, y.Name) })
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// dims2 returns the two dimensions of a matrix tensor (trailing 1s allowed).
func dims2(t *gguf.TensorInfo) (int, int, error) {
	if len(t.Dims) < 2 {
		return 0, 0, fmt.Errorf("%w: tensor %s has shape %v, want a matrix", ErrFormat, t.Name, t.Dims)
	}
	for _, d := range t.Dims[2:] {
		if d != 1 {
			return 0, 0, fmt.Errorf("%w: tensor %s has shape %v, want a matrix", ErrFormat, t.Name, t.Dims)
		}
	}
	const limit = 1 << 31
	if t.Dims[0] == 0 || t.Dims[1] == 0 || t.Dims[0] >= limit || t.Dims[1] >= limit {
		return 0, 0, fmt.Errorf("%w: tensor %s has shape %v", ErrFormat, t.Name, t.Dims)
	}
	return int(t.Dims[0]), int(t.Dims[1]), nil
}

func readPair(f *gguf.File, name string, ta, tb *gguf.TensorInfo) (*Pair, error) {
	a0, a1, err := dims2(ta)
	if err != nil {
		return nil, err
	}
	b0, b1, err := dims2(tb)
	if err != nil {
		return nil, err
	}
	av, err := floats(f, ta)
	if err != nil {
		return nil, err
	}
	bv, err := floats(f, tb)
	if err != nil {
		return nil, err
	}
	if name == TokenEmbd {
		// Stored flipped: lora_a ne [rank, vocab], lora_b ne [rank, hidden];
		// the delta of embedding row t is lora_b · lora_a[t].
		if a0 != b0 {
			return nil, fmt.Errorf("%w: %s: %s ne [%d %d] and %s ne [%d %d] disagree on the rank", ErrFormat, name, SuffixA, a0, a1, SuffixB, b0, b1)
		}
		rank, vocab, hidden := a0, a1, b1
		p := &Pair{Name: name, In: hidden, Out: vocab, Rank: rank, B: av, A: make([]float32, rank*hidden), Type: storedType(ta, tb)}
		for h := range hidden {
			for r := range rank {
				p.A[r*hidden+h] = bv[h*rank+r]
			}
		}
		return p, nil
	}
	if a1 != b0 {
		return nil, fmt.Errorf("%w: %s: %s ne [%d %d] and %s ne [%d %d] disagree on the rank (A transposed?)", ErrFormat, name, SuffixA, a0, a1, SuffixB, b0, b1)
	}
	return &Pair{Name: name, In: a0, Out: b1, Rank: a1, A: av, B: bv, Type: storedType(ta, tb)}, nil
}

// storedType is the type of a pair's tensors: F32 when they differ.
func storedType(ta, tb *gguf.TensorInfo) ggml.Type {
	if ta.Type != tb.Type {
		return ggml.F32
	}
	return ta.Type
}

func floats(f *gguf.File, t *gguf.TensorInfo) ([]float32, error) {
	data, err := f.TensorData(t.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	n := t.Elements()
	if n > uint64(len(data))*8 { // no type packs more than 8 values a byte
		return nil, fmt.Errorf("%w: tensor %s: %d values in %d bytes", ErrFormat, t.Name, n, len(data))
	}
	v := make([]float32, n)
	if err := ggml.Dequantize(t.Type, data, v); err != nil {
		return nil, fmt.Errorf("%w: tensor %s: %w", ErrFormat, t.Name, err)
	}
	return v, nil
}

// Write writes a to path in llama.cpp's adapter format with F32 tensors,
// atomically: a temporary file in the same directory, synced and renamed
// into place (mode 0644), so path never holds a partial adapter. a is
// validated first.
func Write(path string, a *Adapter) error {
	w, err := encode(a)
	if err != nil {
		return err
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("lora: %w", err)
	}
	return nil
}

func encode(a *Adapter) (*gguf.Writer, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	w := gguf.NewWriter(3, 0)
	w.SetString(KeyGeneralType, GeneralTypeAdapter)
	w.SetString(KeyArch, a.Arch)
	if a.Name != "" {
		w.SetString(KeyName, a.Name)
	}
	w.SetString(KeyAdapterType, AdapterTypeLoRA)
	w.SetFloat32(KeyAlpha, a.Alpha)
	for _, p := range a.Pairs {
		av, bv := p.A, p.B
		adims, bdims := []uint64{uint64(p.In), uint64(p.Rank)}, []uint64{uint64(p.Rank), uint64(p.Out)}
		if p.Name == TokenEmbd {
			// lora_a ne [rank, vocab] is B as it is; lora_b ne [rank,
			// hidden] is A transposed.
			av, bv = p.B, make([]float32, p.Rank*p.In)
			for r := range p.Rank {
				for h := range p.In {
					bv[h*p.Rank+r] = p.A[r*p.In+h]
				}
			}
			adims, bdims = []uint64{uint64(p.Rank), uint64(p.Out)}, []uint64{uint64(p.Rank), uint64(p.In)}
		}
		if err := w.AddTensor(p.Name+SuffixA, ggml.F32, adims, f32bytes(av)); err != nil {
			return nil, fmt.Errorf("lora: %w", err)
		}
		if err := w.AddTensor(p.Name+SuffixB, ggml.F32, bdims, f32bytes(bv)); err != nil {
			return nil, fmt.Errorf("lora: %w", err)
		}
	}
	return w, nil
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// ShapesOf returns the BaseShapes of a base model file; name is used in
// messages (usually the file's path).
func ShapesOf(name string, f *gguf.File) BaseShapes {
	s := BaseShapes{Name: name, Arch: f.Architecture(), Tensors: make(map[string][]uint64, len(f.Tensors))}
	for _, t := range f.Tensors {
		s.Tensors[t.Name] = t.Dims
	}
	return s
}
