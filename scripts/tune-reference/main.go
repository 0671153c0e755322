// Command tune-reference dumps a tiny F32 model, a LoRA adapter, a
// preference pair and chatloop's DPO loss and LoRA gradient for it, so
// that reference.py can recompute both in PyTorch (float64) and compare:
//
//	sh scripts/tune-reference/run.sh
//
// The directory it writes (-out) holds manifest.json (the configuration,
// the tokens, the tensors' names and shapes, chatloop's loss, log-probs
// and gradients) and one raw little-endian float32 file per tensor.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/testmodel"
	"github.com/chatloop/chatloop/model/train"
)

type tensor struct {
	File  string `json:"file"`
	Shape []int  `json:"shape"`
}

type manifest struct {
	Arch      string             `json:"arch"`
	Layers    int                `json:"layers"`
	Hidden    int                `json:"hidden"`
	Heads     int                `json:"heads"`
	KVHeads   int                `json:"kv_heads"`
	HeadDim   int                `json:"head_dim"`
	FFN       int                `json:"ffn"`
	Vocab     int                `json:"vocab"`
	Eps       float64            `json:"eps"`
	RopeBase  float64            `json:"rope_base"`
	RopeNeox  bool               `json:"rope_neox"`
	Rank      int                `json:"rank"`
	Alpha     float64            `json:"alpha"`
	Beta      float64            `json:"beta"`
	Loss      string             `json:"loss"`
	Chosen    []int              `json:"chosen"`
	Rejected  []int              `json:"rejected"`
	Start     int                `json:"start"`
	Tensors   map[string]tensor  `json:"tensors"`
	Adapter   map[string]tensor  `json:"adapter"` // <matrix>.A, <matrix>.B
	Grads     map[string]tensor  `json:"grads"`
	Go        map[string]float64 `json:"go"` // loss, logp and ref logp of both answers
	Arguments []string           `json:"arguments"`
}

func main() {
	out := flag.String("out", "", "output directory")
	loss := flag.String("loss", "dpo", "dpo or ipo")
	seed := flag.Uint64("seed", 1, "seed of the model and the adapter")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "tune-reference: -out is required")
		os.Exit(2)
	}
	if err := run(*out, *loss, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "tune-reference:", err)
		os.Exit(1)
	}
}

func run(dir, lossName string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "tiny.gguf")
	if err := testmodel.WriteFile(path, testmodel.Tiny("qwen2", ggml.F32, seed)); err != nil {
		return err
	}
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg, w, err := model.ReadWeights(f)
	if err != nil {
		return err
	}
	m, err := train.New(cfg, &w, 2)
	if err != nil {
		return err
	}
	defer m.Close()
	loss, err := train.ParseLoss(lossName)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	ad, err := train.NewAdapter(&cfg, train.AllTargets, 4, 8, rng)
	if err != nil {
		return err
	}
	for _, p := range ad.Params() { // B (and A) random, so every gradient is non-zero
		for i := range p {
			p[i] = float32(rng.NormFloat64() * 0.05)
		}
	}
	prompt := []int{151644, 872, 198, 9707, 11, 1879, 0, 151645, 198, 151644, 77091, 198}
	pref := train.Preference{
		Chosen:   train.Seq{Tokens: append(append([]int(nil), prompt...), 9707, 0, 3555, 646, 358, 1492, 30, 151645, 198), Start: len(prompt)},
		Rejected: train.Seq{Tokens: append(append([]int(nil), prompt...), 2753, 13, 151645, 198), Start: len(prompt)},
	}
	if err := m.Reference(&pref); err != nil {
		return err
	}
	pc, err := m.LogProb(pref.Chosen, ad)
	if err != nil {
		return err
	}
	pr, err := m.LogProb(pref.Rejected, ad)
	if err != nil {
		return err
	}
	const beta = 0.1
	grad := ad.Zero()
	res, err := m.Step(&pref, ad, grad, loss, beta, 1)
	if err != nil {
		return err
	}
	mf := manifest{Arch: cfg.Arch, Layers: cfg.Layers, Hidden: cfg.Hidden, Heads: cfg.Heads, KVHeads: cfg.KVHeads, HeadDim: cfg.HeadDim,
		FFN: cfg.FFN, Vocab: cfg.Vocab, Eps: float64(cfg.Eps), RopeBase: float64(cfg.RopeBase), RopeNeox: cfg.Family.RopeNeox,
		Rank: ad.Rank, Alpha: float64(ad.Alpha), Beta: beta, Loss: string(loss),
		Chosen: pref.Chosen.Tokens, Rejected: pref.Rejected.Tokens, Start: len(prompt),
		Tensors: map[string]tensor{}, Adapter: map[string]tensor{}, Grads: map[string]tensor{},
		Go:        map[string]float64{"loss": res.Loss, "logp_chosen": pc, "logp_rejected": pr, "ref_chosen": pref.RefChosen, "ref_rejected": pref.RefRejected},
		Arguments: os.Args[1:]}
	write := func(set map[string]tensor, name string, v []float32, shape ...int) error {
		file := fmt.Sprintf("t%03d.f32", len(mf.Tensors)+len(mf.Adapter)+len(mf.Grads))
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		set[name] = tensor{File: file, Shape: shape}
		return os.WriteFile(filepath.Join(dir, file), b, 0o644)
	}
	mat := func(name string, mt *arch.Matrix) error {
		v := make([]float32, mt.Rows*mt.Cols)
		if err := ggml.Dequantize(mt.Type, mt.Data, v); err != nil {
			return err
		}
		return write(mf.Tensors, name, v, mt.Rows, mt.Cols)
	}
	if err := mat("token_embd", &w.Embedding); err != nil {
		return err
	}
	if err := write(mf.Tensors, "output_norm", w.OutputNorm, len(w.OutputNorm)); err != nil {
		return err
	}
	for l := range w.Layers {
		ly := &w.Layers[l]
		p := fmt.Sprintf("blk.%d.", l)
		for _, c := range []struct {
			name string
			m    *arch.Matrix
		}{{"attn_q", &ly.Q}, {"attn_k", &ly.K}, {"attn_v", &ly.V}, {"attn_output", &ly.Out}, {"ffn_gate", &ly.FFNGate}, {"ffn_up", &ly.FFNUp}, {"ffn_down", &ly.FFNDown}} {
			if err := mat(p+c.name, c.m); err != nil {
				return err
			}
		}
		for _, c := range []struct {
			name string
			v    []float32
		}{{"attn_norm", ly.AttnNorm}, {"ffn_norm", ly.FFNNorm}, {"attn_q.bias", ly.QBias}, {"attn_k.bias", ly.KBias}, {"attn_v.bias", ly.VBias}} {
			if c.v == nil {
				continue
			}
			if err := write(mf.Tensors, p+c.name, c.v, len(c.v)); err != nil {
				return err
			}
		}
		for t, pa := range ad.Layers[l] {
			if pa == nil {
				continue
			}
			name := p + train.Target(t).Name()
			g := grad.Layers[l][t]
			for _, x := range []struct {
				set  map[string]tensor
				a, b []float32
			}{{mf.Adapter, pa.A, pa.B(ad.Rank)}, {mf.Grads, g.A, g.B(ad.Rank)}} {
				if err := write(x.set, name+".A", x.a, ad.Rank, pa.In); err != nil {
					return err
				}
				if err := write(x.set, name+".B", x.b, pa.Out, ad.Rank); err != nil {
					return err
				}
			}
		}
	}
	b, err := json.MarshalIndent(mf, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
}
