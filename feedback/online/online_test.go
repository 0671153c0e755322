package online

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/feedback/tune"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
	"github.com/chatloop/chatloop/model/train"
)

// tinyPolicy loads a tiny random qwen2 model as the engine (rendering and
// sampling) and as the model to train, its output norm scaled by 0.1: a
// random model's logits spread over some 50 nats, so that sampling from
// it is nearly greedy whatever an adapter does; scaled, its distribution
// is one an adapter can move (adapters do not touch the output norm).
func tinyPolicy(t testing.TB) (*model.Engine, *train.Model) {
	t.Helper()
	spec := testmodel.Tiny("qwen2", ggml.Q8_0, 11)
	spec.OutputNormScale = 0.1
	return loadPolicy(t, testmodel.Write(t, spec))
}

func loadPolicy(t testing.TB, path string) (*model.Engine, *train.Model) {
	t.Helper()
	e, err := model.Load(path, model.Options{Threads: 2, Repack: model.RepackOff, Parallel: 1, PrefixCache: -1})
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

// sampleRecompute is the sampler this package had before the engine's
// decoder: the training model's forward pass over the whole sequence
// again for every token. It is the reference of the decoder's path.
func sampleRecompute(s *sampler, prompt []model.Message, ad *train.Adapter, rng *rand.Rand) (string, error) {
	pt := s.e.PromptTokens(model.Request{Messages: prompt})
	toks := make([]int, len(pt), len(pt)+s.o.MaxTokens)
	for i, t := range pt {
		toks[i] = int(t)
	}
	tk := s.e.Tokenizer()
	var out []int32
	var w []float64
	for range s.o.MaxTokens {
		if len(toks) >= s.m.Context {
			break
		}
		logits, err := s.m.Logits(toks, ad)
		if err != nil {
			return "", err
		}
		next := draw(logits, s.o.Allowed, s.o.Temperature, rng, &w)
		if tk.IsEOG(int32(next)) {
			break
		}
		toks = append(toks, next)
		out = append(out, int32(next))
	}
	return tk.Decode(out), nil
}

// testAdapter is a rank-4 adapter of every block matrix with random A and
// B: one that moves the answers.
func testAdapter(t testing.TB, m *train.Model) *train.Adapter {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	ad, err := train.NewAdapter(&m.Config, train.AllTargets, 4, 8, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ad.Params() {
		for i := range p {
			p[i] = float32(rng.NormFloat64() * 0.2)
		}
	}
	return ad
}

// TestGreedyMatchesRecompute: under greedy decoding the engine's
// incremental path (a decoder with the adapter as its side path) picks
// the token that recomputing the whole sequence with the training model
// picks, for the base and an adapter, at every step where the two best
// tokens are further apart than the paths' logits differ. The answers
// are the recompute path's, fed to the decoder token by token. The paths
// differ by rounding: the engine keeps keys and values in F16, as
// llama.cpp does, and quantizes activations to Q8_0 for Q8_0 products;
// the training model computes in float32.
func TestGreedyMatchesRecompute(t *testing.T) {
	e, m := loadPolicy(t, testmodel.Write(t, testmodel.Tiny("qwen2", ggml.Q8_0, 11)))
	ad := testAdapter(t, m)
	s := &sampler{m: m, e: e}
	argmax := func(l []float32) (best, second int) {
		best, second = 0, 1
		if l[1] > l[0] {
			best, second = 1, 0
		}
		for i := 2; i < len(l); i++ {
			if l[i] > l[best] {
				best, second = i, best
			} else if l[i] > l[second] {
				second = i
			}
		}
		return best, second
	}
	steps, agree, moved := 0, 0, 0
	for i, p := range prompts(4, 0) {
		var first []int
		for _, a := range []*train.Adapter{nil, ad} {
			d, err := s.decoder(a)
			if err != nil {
				t.Fatal(err)
			}
			pt := e.PromptTokens(model.Request{Messages: p})
			d.Truncate(0)
			got, err := d.Append(context.Background(), pt)
			if err != nil {
				t.Fatal(err)
			}
			toks := make([]int, len(pt))
			for j, x := range pt {
				toks[j] = int(x)
			}
			var answer []int
			for range 8 {
				want, err := m.Logits(toks, a)
				if err != nil {
					t.Fatal(err)
				}
				var diff float64
				for j := range want {
					diff = max(diff, math.Abs(float64(want[j]-got[j])))
				}
				wb, ws := argmax(want)
				gb, _ := argmax(got)
				steps++
				switch gap := float64(want[wb] - want[ws]); {
				case gb == wb:
					agree++
				case gap > 2*diff:
					t.Errorf("prompt %d, adapter %v, answer %v: the decoder picks %d, recomputing %d by %.3f (the logits differ by at most %.3f)", i, a != nil, answer, gb, wb, gap, diff)
				default:
					t.Logf("prompt %d, adapter %v: a near tie (%.4f apart, logits differ by up to %.3f): the decoder picks %d, recomputing %d", i, a != nil, gap, diff, gb, wb)
				}
				if diff > 1 {
					t.Errorf("prompt %d, adapter %v: the logits differ by %.3f", i, a != nil, diff)
				}
				toks, answer = append(toks, wb), append(answer, wb)
				if got, err = d.Append(context.Background(), []int32{int32(wb)}); err != nil {
					t.Fatal(err)
				}
			}
			if a == nil {
				first = answer
			} else if !slices.Equal(answer, first) {
				moved++
			}
		}
	}
	t.Logf("the greedy choices agree at %d of %d steps", agree, steps)
	if agree < steps*9/10 {
		t.Errorf("the greedy choices agree at %d of %d steps", agree, steps)
	}
	if moved == 0 {
		t.Error("the adapter changed no greedy answer: the test cannot tell whether it is applied")
	}
}

// TestSamplerMatchesRecompute: sampling as the online test does (at
// temperature 1 over its words, on the flattened model), the engine's
// incremental path draws the answers that recomputing the whole sequence
// with the training model draws from the same random numbers, for the
// base and an adapter: the samples of a seed stay those the sampler drew
// before it used the engine's decoder.
func TestSamplerMatchesRecompute(t *testing.T) {
	e, m := tinyPolicy(t)
	ad := testAdapter(t, m)
	s := &sampler{m: m, e: e, o: Options{MaxTokens: 8, Temperature: 1, Allowed: ruleTokens(t, e)}}
	same, moved := 0, 0
	for i, p := range prompts(8, 0) {
		var base string
		for _, a := range []*train.Adapter{nil, ad} {
			want, err := sampleRecompute(s, p, a, rand.New(rand.NewPCG(uint64(i), 1)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.sample(context.Background(), p, a, rand.New(rand.NewPCG(uint64(i), 1)))
			if err != nil {
				t.Fatal(err)
			}
			if got == want {
				same++
			} else {
				t.Logf("prompt %d, adapter %v: the decoder's answer is %q, recomputing gives %q", i, a != nil, got, want)
			}
			if a == nil {
				base = got
			} else if got != base {
				moved++
			}
		}
	}
	t.Logf("%d of 16 answers the same", same)
	if same < 15 {
		t.Errorf("%d of 16 answers the same, want 15 or more", same)
	}
	if moved == 0 {
		t.Error("the adapter changed no answer: the test cannot tell whether it is applied")
	}
}
