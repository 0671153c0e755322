package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/chatloop/chatloop/model/arch"
)

// Target is one kind of weight matrix of a transformer block that a LoRA
// pair can adapt.
type Target int

// The targets, in the order of a block's matrices.
const (
	TargetQ Target = iota
	TargetK
	TargetV
	TargetOut
	TargetGate
	TargetUp
	TargetDown
	numTargets
)

// AllTargets are every block matrix: the default of chatloop tune.
var AllTargets = []Target{TargetQ, TargetK, TargetV, TargetOut, TargetGate, TargetUp, TargetDown}

var targetNames = [numTargets]string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

// Name is the target's tensor name in a block ("attn_q").
func (t Target) Name() string { return targetNames[t] }

// ParseTargets reads a comma-separated list of targets, each a tensor
// name ("attn_q", "ffn_down"), a short name (q, k, v, o, gate, up, down),
// or a PEFT module name (q_proj, k_proj, v_proj, o_proj, gate_proj,
// up_proj, down_proj); "all" (or an empty list) is every one.
func ParseTargets(s string) ([]Target, error) {
	if strings.TrimSpace(s) == "" || strings.TrimSpace(s) == "all" {
		return AllTargets, nil
	}
	short := map[string]Target{"q": TargetQ, "k": TargetK, "v": TargetV, "o": TargetOut, "out": TargetOut,
		"gate": TargetGate, "up": TargetUp, "down": TargetDown,
		"q_proj": TargetQ, "k_proj": TargetK, "v_proj": TargetV, "o_proj": TargetOut,
		"gate_proj": TargetGate, "up_proj": TargetUp, "down_proj": TargetDown}
	for t, n := range targetNames {
		short[n] = Target(t)
	}
	var out []Target
	seen := map[Target]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		t, ok := short[f]
		if !ok {
			return nil, fmt.Errorf("train: unknown target %q (use %s, or q, k, v, o, gate, up, down)", f, strings.Join(targetNames[:], ", "))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// Pair is the LoRA pair of one matrix W (Out×In): W + scale·B·A, with A
// Rank×In and B Out×Rank. B is held transposed (Rank×Out), which makes
// every product a dot or an axpy over contiguous rows.
type Pair struct {
	In, Out int
	A       []float32 // Rank×In, row-major
	Bt      []float32 // Rank×Out: B transposed
}

// B returns B (Out×Rank, row-major), the layout of model/lora.
func (p *Pair) B(rank int) []float32 {
	b := make([]float32, p.Out*rank)
	for j := range rank {
		for o := range p.Out {
			b[o*rank+j] = p.Bt[j*p.Out+o]
		}
	}
	return b
}

// SetB sets B from its Out×Rank row-major layout.
func (p *Pair) SetB(rank int, b []float32) {
	for j := range rank {
		for o := range p.Out {
			p.Bt[j*p.Out+o] = b[o*rank+j]
		}
	}
}

// Adapter is a set of LoRA pairs on a model's block matrices, all of one
// rank, scaled by Alpha/Rank.
type Adapter struct {
	Rank   int
	Alpha  float32
	Layers [][numTargets]*Pair // nil where a matrix is not adapted
}

// Scale is Alpha/Rank.
func (a *Adapter) Scale() float32 { return a.Alpha / float32(a.Rank) }

// shape returns the In and Out of target t in a model of cfg.
func shape(cfg *arch.Config, t Target) (in, out int) {
	q, kv := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	switch t {
	case TargetQ:
		return cfg.Hidden, q
	case TargetK, TargetV:
		return cfg.Hidden, kv
	case TargetOut:
		return q, cfg.Hidden
	case TargetGate, TargetUp:
		return cfg.Hidden, cfg.FFN
	default:
		return cfg.FFN, cfg.Hidden
	}
}

// NewAdapter makes a fresh adapter for a model of cfg on targets of every
// layer, initialised as PEFT does: A uniform in ±1/√In (kaiming_uniform
// with a = √5), B zero, so that the adapted model starts as the base.
func NewAdapter(cfg *arch.Config, targets []Target, rank int, alpha float32, rng *rand.Rand) (*Adapter, error) {
	if rank <= 0 {
		return nil, fmt.Errorf("train: rank %d must be positive", rank)
	}
	if !(alpha > 0) {
		return nil, fmt.Errorf("train: alpha %v must be positive", alpha)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("train: no target matrices")
	}
	a := &Adapter{Rank: rank, Alpha: alpha, Layers: make([][numTargets]*Pair, cfg.Layers)}
	for l := range a.Layers {
		for _, t := range targets {
			in, out := shape(cfg, t)
			p := &Pair{In: in, Out: out, A: make([]float32, rank*in), Bt: make([]float32, rank*out)}
			bound := 1 / math.Sqrt(float64(in))
			for i := range p.A {
				p.A[i] = float32((2*rng.Float64() - 1) * bound)
			}
			a.Layers[l][t] = p
		}
	}
	return a, nil
}

// Zero returns an adapter of a's shape filled with zeros (a gradient).
func (a *Adapter) Zero() *Adapter {
	z := &Adapter{Rank: a.Rank, Alpha: a.Alpha, Layers: make([][numTargets]*Pair, len(a.Layers))}
	for l, ps := range a.Layers {
		for t, p := range ps {
			if p != nil {
				z.Layers[l][t] = &Pair{In: p.In, Out: p.Out, A: make([]float32, len(p.A)), Bt: make([]float32, len(p.Bt))}
			}
		}
	}
	return z
}

// Params lists every parameter slice in a fixed order (layer, target, A
// then Bt); the slices alias the adapter.
func (a *Adapter) Params() [][]float32 {
	var out [][]float32
	for _, ps := range a.Layers {
		for _, p := range ps {
			if p != nil {
				out = append(out, p.A, p.Bt)
			}
		}
	}
	return out
}

// Check verifies that a fits a model of cfg.
func (a *Adapter) Check(cfg *arch.Config) error {
	if len(a.Layers) != cfg.Layers {
		return fmt.Errorf("train: adapter has %d layers, the model %d", len(a.Layers), cfg.Layers)
	}
	for l, ps := range a.Layers {
		for t, p := range ps {
			if p == nil {
				continue
			}
			in, out := shape(cfg, Target(t))
			if p.In != in || p.Out != out || len(p.A) != a.Rank*in || len(p.Bt) != a.Rank*out {
				return fmt.Errorf("train: adapter's blk.%d.%s is %d×%d (rank %d), the model's matrix %d×%d",
					l, Target(t).Name(), p.Out, p.In, a.Rank, out, in)
			}
		}
	}
	return nil
}

// Targets lists the targets adapted in any layer.
func (a *Adapter) Targets() []Target {
	var out []Target
	for t := range numTargets {
		for _, ps := range a.Layers {
			if ps[t] != nil {
				out = append(out, t)
				break
			}
		}
	}
	return out
}
