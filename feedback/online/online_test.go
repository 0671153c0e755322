package online

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/feedback/tune"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
	"github.com/chatloop/chatloop/model/train"
)

// tinyPolicy loads a tiny random qwen2 model for rendering (the engine)
// and for sampling and training, its logits scaled by 0.1: a random
// model's logits spread over some 50 nats, so that sampling from it is
// nearly greedy whatever an adapter does; scaled, its distribution is one
// an adapter can move (adapters do not touch the output norm).
func tinyPolicy(t testing.TB) (*model.Engine, *train.Model) {
	t.Helper()
	e, err := model.Load(testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 11)), model.Options{Threads: 2, Repack: model.RepackOff, Parallel: 1, PrefixCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cfg, w, err := e.Weights()
	if err != nil {
		t.Fatal(err)
	}
	m, err := train.New(cfg, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	norm := make([]float32, len(m.W.OutputNorm))
	for i, v := range m.W.OutputNorm {
		norm[i] = v * 0.1
	}
	m.W.OutputNorm = norm
	m.Context = 512
	return e, m
}

// questionRule is the synthetic reward model: it encodes a learnable rule,
// one point per question mark in the answer and a point off per full
// stop.
type questionRule struct{ calls int }

func (q *questionRule) Score(_ context.Context, _ []model.Message, answer string) (float64, error) {
	q.calls++
	return float64(strings.Count(answer, "?") - strings.Count(answer, ".")), nil
}

func prompts(n, from int) [][]model.Message {
	var out [][]model.Message
	for i := range n {
		out = append(out, []model.Message{{Role: "user", Content: fmt.Sprintf("tell me about thing number %d", from+i)}})
	}
	return out
}

// TestOnlineRoundsRaiseReward: on a synthetic task where the reward model
// prefers answers with question marks, rounds of sampling, ranking and
// DPO raise the reward model's mean score of fresh samples on held-out
// prompts above the base's.
func TestOnlineRoundsRaiseReward(t *testing.T) {
	e, m := tinyPolicy(t)
	tk := e.Tokenizer()
	var allowed []int
	for _, w := range []string{" yes", " no", "?", ".", " maybe", " it", " is"} {
		ids := tk.Encode(w)
		if len(ids) != 1 {
			t.Fatalf("%q is %d tokens", w, len(ids))
		}
		allowed = append(allowed, int(ids[0]))
	}
	end := tk.EncodeSpecial("<|im_end|>")
	if len(end) != 1 || !tk.IsEOG(end[0]) {
		t.Fatalf("<|im_end|> is %v", end)
	}
	allowed = append(allowed, int(end[0]))
	rm := &questionRule{}
	o := Options{Rounds: 3, Samples: 4, MaxTokens: 6, Allowed: allowed, Seed: 1,
		Tune: tune.Options{Beta: 0.1, Rank: 4, Alpha: 8, Epochs: 2, LR: 5e-3, Batch: 4, Seed: 3}}
	var rounds []Round
	res, err := Run(context.Background(), m, e, prompts(24, 0), prompts(10, 100), rm, o, func(r Round) { rounds = append(rounds, r) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out mean score before: %.3f", res.Before)
	for _, r := range rounds {
		t.Logf("round %d: %d pairs, train samples' mean %.3f, held-out mean %.3f, loss %.4f", r.Round, r.Pairs, r.TrainScore, r.HeldScore, r.Loss)
	}
	if len(res.Rounds) != 3 || len(rounds) != 3 || res.Adapter == nil {
		t.Fatalf("rounds %d reported %d, adapter %v", len(res.Rounds), len(rounds), res.Adapter != nil)
	}
	last := res.Rounds[2].HeldScore
	if !(last > res.Before+0.5) {
		t.Errorf("held-out mean score %.3f after 3 rounds, %.3f before: want a rise of more than 0.5", last, res.Before)
	}
	if res.Rounds[0].Pairs == 0 {
		t.Error("the first round made no pairs")
	}
	// Each round scored 24·4 training samples and 10·4 held-out ones,
	// plus the 10·4 of the base before.
	if want := 40 + 3*(96+40); rm.calls != want {
		t.Errorf("the reward model was asked %d times, want %d", rm.calls, want)
	}
}

func TestOnlineBadOptions(t *testing.T) {
	e, m := tinyPolicy(t)
	rm := &questionRule{}
	for _, o := range []Options{{Samples: 1}, {Rounds: -1}, {Temperature: math.NaN()}, {MaxTokens: -2}} {
		if _, err := Run(context.Background(), m, e, prompts(2, 0), nil, rm, o, nil); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := Run(context.Background(), m, e, nil, nil, rm, Options{}, nil); err == nil {
		t.Error("no prompts accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, m, e, prompts(2, 0), prompts(1, 9), rm, Options{}, nil); err == nil {
		t.Error("a cancelled context ran")
	}
}
