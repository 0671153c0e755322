package reward

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// ErrBackboneMismatch is returned (wrapped) when a head is loaded for a
// backbone other than the one it was trained on.
var ErrBackboneMismatch = errors.New("reward: the head was trained on another backbone")

// headFormat tags head files.
const headFormat = "chatloop-reward-head"

// Head is a trained reward head: standardization, then a linear layer, or
// one hidden ReLU layer and a linear output.
type Head struct {
	Format   string   `json:"format"`
	Version  int      `json:"version"`
	Backbone Backbone `json:"backbone"`
	// Mean and Std standardize the features (training set statistics).
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
	// Hidden is the hidden layer's width; 0 for a linear head.
	Hidden int `json:"hidden"`
	// W1 is (Dim+1)×Hidden row-major, the last row the bias (hidden
	// heads only).
	W1 []float64 `json:"w1,omitempty"`
	// W2 has Dim+1 elements (linear: the last is the bias) or Hidden
	// (hidden heads, bias B2).
	W2 []float64 `json:"w2"`
	B2 float64   `json:"b2"`
	// Training records how the head was made.
	Training Report `json:"training"`
}

// Dim is the length of the feature vectors the head reads.
func (h *Head) Dim() int { return len(h.Mean) }

// Score is the reward of a feature vector: higher is better.
func (h *Head) Score(x []float32) (float64, error) {
	d := h.Dim()
	if len(x) != d {
		return 0, fmt.Errorf("%w: %d features, the head reads %d", ErrInvalid, len(x), d)
	}
	z := make([]float64, d+1)
	for i, v := range x {
		z[i] = (float64(v) - h.Mean[i]) / h.Std[i]
	}
	z[d] = 1
	if h.Hidden == 0 {
		return dot(z, h.W2), nil
	}
	r := h.B2
	for j := range h.Hidden {
		var a float64
		for i, v := range z {
			a += v * h.W1[i*h.Hidden+j]
		}
		r += max(a, 0) * h.W2[j]
	}
	return r, nil
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// check validates the shapes of a decoded head.
func (h *Head) check() error {
	d := h.Dim()
	switch {
	case h.Format != headFormat:
		return fmt.Errorf("%w: not a chatloop reward head (format %q)", ErrInvalid, h.Format)
	case h.Version != 1:
		return fmt.Errorf("%w: reward head version %d, this chatloop reads 1", ErrInvalid, h.Version)
	case d == 0 || len(h.Std) != d || h.Backbone.Dim != d:
		return fmt.Errorf("%w: reward head has %d means, %d deviations, backbone dim %d", ErrInvalid, d, len(h.Std), h.Backbone.Dim)
	case h.Hidden < 0 || h.Hidden > 1<<16:
		return fmt.Errorf("%w: reward head hidden width %d", ErrInvalid, h.Hidden)
	case h.Hidden == 0 && (len(h.W2) != d+1 || len(h.W1) != 0):
		return fmt.Errorf("%w: linear reward head has %d output weights, want %d", ErrInvalid, len(h.W2), d+1)
	case h.Hidden > 0 && (len(h.W1) != (d+1)*h.Hidden || len(h.W2) != h.Hidden):
		return fmt.Errorf("%w: reward head weights have the wrong shapes", ErrInvalid)
	}
	for _, s := range [][]float64{h.Mean, h.Std, h.W1, h.W2, {h.B2}} {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: reward head has a non-finite weight", ErrInvalid)
			}
		}
	}
	for _, s := range h.Std {
		if s <= 0 {
			return fmt.Errorf("%w: reward head has a non-positive deviation", ErrInvalid)
		}
	}
	return nil
}

// Save writes the head to path (JSON), through a temporary file so that a
// failed write leaves any previous head intact.
func (h *Head) Save(path string) error {
	data, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".reward-head-*")
	if err != nil {
		return fmt.Errorf("reward: writing %s: %w", path, osCause(err))
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("reward: writing %s: %w", path, osCause(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("reward: writing %s: %w", path, osCause(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("reward: writing %s: %w", path, osCause(err))
	}
	return nil
}

// osCause is the system error inside a file operation's error, without
// the temporary file's name, which means nothing to the user.
func osCause(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// Decode reads a head from JSON and checks it.
func Decode(data []byte) (*Head, error) {
	var h Head
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	return &h, nil
}

// Load reads the head at path and refuses it (ErrBackboneMismatch, naming
// both backbones) unless it was trained on want.
func Load(path string, want Backbone) (*Head, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reward: %w", err)
	}
	h, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("reward head %s: %w", path, err)
	}
	if !h.Backbone.Same(want) {
		return nil, fmt.Errorf("%w: %s was trained on %s, the model is %s", ErrBackboneMismatch, path, h.Backbone, want)
	}
	return h, nil
}
