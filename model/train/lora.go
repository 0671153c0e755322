package train

import (
	"fmt"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/lora"
)

// TensorName is the base tensor a target of layer l adapts in a model of
// cfg ("blk.3.attn_q.weight"), as its family names it.
func TensorName(cfg *arch.Config, l int, t Target) string {
	n := &cfg.Family.Tensors
	name := [numTargets]string{n.Q, n.K, n.V, n.Out, n.FFNGate, n.FFNUp, n.FFNDown}[t]
	return fmt.Sprintf(n.Block, l) + name
}

// ToLoRA returns the adapter in model/lora's form for the base model of
// cfg, ready for lora.Write.
func (a *Adapter) ToLoRA(cfg *arch.Config) *lora.Adapter {
	out := &lora.Adapter{Arch: cfg.Arch, Alpha: a.Alpha}
	for l, ps := range a.Layers {
		for t, p := range ps {
			if p == nil {
				continue
			}
			out.Pairs = append(out.Pairs, &lora.Pair{Name: TensorName(cfg, l, Target(t)), In: p.In, Out: p.Out, Rank: a.Rank,
				A: append([]float32(nil), p.A...), B: p.B(a.Rank)})
		}
	}
	sortPairs(out.Pairs)
	return out
}

func sortPairs(ps []*lora.Pair) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Name < ps[j-1].Name; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// FromLoRA converts an adapter read by model/lora for training or
// evaluation on a model of cfg. Every pair must adapt a block matrix of
// the model with its shape, all with one rank.
func FromLoRA(cfg *arch.Config, la *lora.Adapter) (*Adapter, error) {
	if la.Arch != cfg.Arch {
		return nil, fmt.Errorf("%w: the adapter is for %s, the model is %s", lora.ErrMismatch, la.Arch, cfg.Arch)
	}
	if len(la.Pairs) == 0 {
		return nil, fmt.Errorf("%w: the adapter has no pairs", lora.ErrFormat)
	}
	byName := map[string][2]int{}
	for l := range cfg.Layers {
		for t := range numTargets {
			byName[TensorName(cfg, l, t)] = [2]int{l, int(t)}
		}
	}
	alpha := la.Alpha
	rank := la.Pairs[0].Rank
	if alpha == 0 { // llama.cpp: no alpha means a factor of 1
		alpha = float32(rank)
	}
	a := &Adapter{Rank: rank, Alpha: alpha, Layers: make([][numTargets]*Pair, cfg.Layers)}
	for _, p := range la.Pairs {
		at, ok := byName[p.Name]
		if !ok {
			return nil, fmt.Errorf("%w: the adapter adapts %s, which training does not handle", lora.ErrMismatch, p.Name)
		}
		if p.Rank != rank {
			return nil, fmt.Errorf("%w: %s has rank %d, %s rank %d", lora.ErrMismatch, p.Name, p.Rank, la.Pairs[0].Name, rank)
		}
		in, out := shape(cfg, Target(at[1]))
		if p.In != in || p.Out != out {
			return nil, fmt.Errorf("%w: %s is %d×%d in the adapter, %d×%d in the model", lora.ErrMismatch, p.Name, p.Out, p.In, out, in)
		}
		q := &Pair{In: in, Out: out, A: append([]float32(nil), p.A...), Bt: make([]float32, rank*out)}
		q.SetB(rank, p.B)
		a.Layers[at[0]][at[1]] = q
	}
	return a, nil
}
