// Package online runs the online round of preference tuning: the current
// policy (the base with the adapter trained so far) samples several
// answers to each prompt, a reward model scores them, the best and the
// worst answer become a preference pair, and DPO trains the adapter on
// those pairs; then the round repeats with the new policy. It stands in
// for PPO in ChatGPT's recipe: the reward model ranks, DPO optimises.
//
// Each round also samples fresh answers to held-out prompts with the
// policy after the round and reports the reward model's mean score of
// them: the figure that should rise.
//
// Sampling runs through the engine's incremental forward pass (a
// model.Decoder: each token is one pass over that token, its prompt's
// keys and values computed once for all of its samples) with the adapter
// trained so far applied as a low-rank side path; training runs through
// model/train's forward and backward passes over whole sequences.
package online

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/chatloop/chatloop/feedback/tune"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/lora"
	"github.com/chatloop/chatloop/model/train"
)

// Engine is what the rounds need of the local engine (*model.Engine is
// one): its chat template and tokenizer, to render prompts and answers
// as it serves them, and decoders that run the base with an adapter held
// in memory through its incremental forward pass, to sample the policy.
type Engine interface {
	tune.Renderer
	NewDecoder(ad *lora.Adapter, scale float32, size int) (*model.Decoder, error)
}

// Scorer is the reward model: a score of an answer to a prompt, higher
// is better. *reward.Scorer is one.
type Scorer interface {
	Score(ctx context.Context, prompt []model.Message, answer string) (float64, error)
}

// Options configure the rounds. Zero values take the defaults noted.
type Options struct {
	// Rounds of sampling, scoring and training (default 1).
	Rounds int
	// Samples per prompt and round (default 4, at least 2).
	Samples int
	// MaxTokens caps each sampled answer (default 64).
	MaxTokens int
	// Temperature of the sampling (default 1).
	Temperature float64
	// Allowed, when not empty, are the only tokens sampling may draw (list
	// the end-of-turn token among them for answers to end before
	// MaxTokens); empty: the whole vocabulary.
	Allowed []int
	// Seed of the sampling.
	Seed uint64
	// Tune configures DPO in each round (tune.Options; its Init is the
	// adapter to start from, trained in place; Holdout, Checkpoint and
	// Resume are not used).
	Tune tune.Options
}

// Round reports one round.
type Round struct {
	Round int
	// Pairs is how many prompts gave a pair (best and worst scored apart).
	Pairs int
	// TrainScore is the mean score of the round's samples on the training
	// prompts (under the policy before the round's training).
	TrainScore float64
	// HeldScore is the reward model's mean score of fresh samples on the
	// held-out prompts under the policy after the round.
	HeldScore float64
	// Loss is the DPO loss of the round's last step.
	Loss float64
}

// Result is the outcome of Run.
type Result struct {
	Adapter *train.Adapter
	// Before is the held-out mean score of the policy Run started from.
	Before float64
	Rounds []Round
}

// ErrNoPrompts is returned when there is nothing to sample for.
var ErrNoPrompts = errors.New("online: no prompts")

func (o *Options) fill() error {
	if o.Rounds == 0 {
		o.Rounds = 1
	}
	if o.Samples == 0 {
		o.Samples = 4
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = 64
	}
	if o.Temperature == 0 {
		o.Temperature = 1
	}
	switch {
	case o.Rounds < 0:
		return fmt.Errorf("online: rounds %d: want 1 or more", o.Rounds)
	case o.Samples < 2:
		return fmt.Errorf("online: samples %d: a pair needs at least 2", o.Samples)
	case o.MaxTokens < 1:
		return fmt.Errorf("online: max tokens %d: want 1 or more", o.MaxTokens)
	case !(o.Temperature > 0) || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("online: temperature %v: want a positive number", o.Temperature)
	}
	return nil
}

// Run runs the rounds: m is the frozen base to train on, e the engine
// loaded from the same file (it renders prompts and answers and samples
// them), prompts are sampled for and trained on, held are only sampled
// for, to measure. onRound, when not nil, is called after each round.
func Run(ctx context.Context, m *train.Model, e Engine, prompts, held [][]model.Message, sc Scorer, o Options, onRound func(Round)) (*Result, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("%w to sample for", ErrNoPrompts)
	}
	s := &sampler{m: m, e: e, sc: sc, o: o}
	res := &Result{Adapter: o.Tune.Init}
	var err error
	if res.Before, err = s.heldScore(ctx, held, res.Adapter); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6f6e6c69))
	for round := 1; round <= o.Rounds; round++ {
		var pairs []tune.Pair
		var total float64
		var n int
		for i, p := range prompts {
			best, worst, mean, err := s.bestWorst(ctx, p, res.Adapter, rng)
			if err != nil {
				return nil, err
			}
			total += mean * float64(o.Samples)
			n += o.Samples
			if best.text == worst.text || best.score == worst.score {
				continue // nothing to prefer
			}
			ex := tune.Example{Messages: p, Chosen: best.text, Rejected: worst.text, Line: i + 1}
			c, rj, pt, err := tune.Render(e, &ex)
			if err != nil {
				return nil, err
			}
			pairs = append(pairs, tune.Pair{Preference: train.Preference{Chosen: c, Rejected: rj}, Prompt: pt, Line: i + 1})
		}
		rep := Round{Round: round, Pairs: len(pairs), TrainScore: total / float64(max(n, 1)), Loss: math.NaN()}
		if len(pairs) > 0 {
			if err := tune.References(ctx, m, pairs, nil); err != nil {
				return nil, err
			}
			to := o.Tune
			to.Init, to.Holdout, to.Checkpoint, to.Resume, to.Progress = res.Adapter, 0, "", false, nil
			to.Seed = o.Tune.Seed + uint64(round)
			tr, err := tune.Run(ctx, m, pairs, nil, to)
			if err != nil {
				return nil, fmt.Errorf("online round %d: %w", round, err)
			}
			res.Adapter = tr.Adapter
			rep.Loss = tr.Last.Loss
			s.forget() // the adapter was trained in place
		}
		if rep.HeldScore, err = s.heldScore(ctx, held, res.Adapter); err != nil {
			return nil, err
		}
		res.Rounds = append(res.Rounds, rep)
		if onRound != nil {
			onRound(rep)
		}
	}
	return res, nil
}

type scored struct {
	text  string
	score float64
}

// sampler draws answers from the base with an adapter.
type sampler struct {
	m  *train.Model
	e  Engine
	sc Scorer
	o  Options

	// The decoder of the adapter ad (nil: the base alone) and the logits
	// after the prompt it holds.
	dec       *model.Decoder
	ad        *train.Adapter
	hasDec    bool
	prompt    []int32
	promptOut []float32
	w         []float64
}

// forget drops the decoder: its adapter has changed.
func (s *sampler) forget() { s.dec, s.ad, s.hasDec, s.prompt = nil, nil, false, nil }

// decoder returns a decoder of ad, made again after forget or for
// another adapter.
func (s *sampler) decoder(ad *train.Adapter) (*model.Decoder, error) {
	if s.hasDec && s.ad == ad {
		return s.dec, nil
	}
	var la *lora.Adapter
	if ad != nil {
		la = ad.ToLoRA(&s.m.Config)
	}
	d, err := s.e.NewDecoder(la, 1, s.contextLimit())
	if err != nil {
		return nil, fmt.Errorf("online: sampling: %w", err)
	}
	s.dec, s.ad, s.hasDec, s.prompt = d, ad, true, nil
	return d, nil
}

// contextLimit is the longest sequence sampled: the training model's
// context (model/train's default when 0).
func (s *sampler) contextLimit() int {
	if s.m.Context > 0 {
		return s.m.Context
	}
	return s.m.Config.ContextLength
}

// bestWorst samples o.Samples answers to prompt and returns the best and
// worst scored, and the mean score.
func (s *sampler) bestWorst(ctx context.Context, prompt []model.Message, ad *train.Adapter, rng *rand.Rand) (best, worst scored, mean float64, err error) {
	for i := range s.o.Samples {
		text, err := s.sample(ctx, prompt, ad, rng)
		if err != nil {
			return best, worst, 0, err
		}
		sc, err := s.score(ctx, prompt, text)
		if err != nil {
			return best, worst, 0, err
		}
		mean += sc
		if i == 0 || sc > best.score {
			best = scored{text, sc}
		}
		if i == 0 || sc < worst.score {
			worst = scored{text, sc}
		}
	}
	return best, worst, mean / float64(s.o.Samples), nil
}

func (s *sampler) score(ctx context.Context, prompt []model.Message, text string) (float64, error) {
	v, err := s.sc.Score(ctx, prompt, text)
	if err != nil {
		return 0, fmt.Errorf("online: reward model: %w", err)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("online: reward model scored an answer %v", v)
	}
	return v, nil
}

// heldScore is the mean score of o.Samples fresh answers to each held
// prompt under ad, drawn with the same random numbers for every call so
// that two policies are compared on the same draws; NaN without held
// prompts.
func (s *sampler) heldScore(ctx context.Context, held [][]model.Message, ad *train.Adapter) (float64, error) {
	if len(held) == 0 {
		return math.NaN(), nil
	}
	rng := rand.New(rand.NewPCG(s.o.Seed, 0x68656c64))
	var total float64
	for _, p := range held {
		_, _, mean, err := s.bestWorst(ctx, p, ad, rng)
		if err != nil {
			return 0, err
		}
		total += mean
	}
	return total / float64(len(held)), nil
}

// sample draws one answer to prompt, token by token at the temperature,
// until the end of the turn, MaxTokens or the context's end. The prompt
// runs once per prompt and adapter; each sample continues it.
func (s *sampler) sample(ctx context.Context, prompt []model.Message, ad *train.Adapter, rng *rand.Rand) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	d, err := s.decoder(ad)
	if err != nil {
		return "", err
	}
	pt := s.e.PromptTokens(model.Request{Messages: prompt})
	if len(pt) == 0 {
		return "", errors.New("online: sampling: the prompt renders to no tokens")
	}
	if !slices.Equal(pt, s.prompt) {
		s.prompt = nil
		d.Truncate(0)
		logits, err := d.Append(ctx, pt)
		if err != nil {
			return "", fmt.Errorf("online: sampling: %w", err)
		}
		s.prompt, s.promptOut = pt, append(s.promptOut[:0], logits...)
	}
	d.Truncate(len(pt))
	limit := s.contextLimit()
	tk := s.e.Tokenizer()
	logits := s.promptOut
	var out []int32
	for range s.o.MaxTokens {
		if limit > 0 && d.Len() >= limit {
			break
		}
		next := draw(logits, s.o.Allowed, s.o.Temperature, rng, &s.w)
		if tk.IsEOG(int32(next)) {
			break
		}
		out = append(out, int32(next))
		if len(out) == s.o.MaxTokens {
			break // its logits are not wanted
		}
		if logits, err = d.Append(ctx, []int32{int32(next)}); err != nil {
			return "", fmt.Errorf("online: sampling: %w", err)
		}
	}
	return tk.Decode(out), nil
}

// draw samples a token from softmax(logits/temperature) over cand (every
// token when cand is nil).
func draw(logits []float32, cand []int, temperature float64, rng *rand.Rand, w *[]float64) int {
	if len(cand) == 0 {
		cand = nil
	}
	n := len(logits)
	if cand != nil {
		n = len(cand)
	}
	id := func(i int) int {
		if cand != nil {
			return cand[i]
		}
		return i
	}
	if cap(*w) < n {
		*w = make([]float64, n)
	}
	ws := (*w)[:n]
	mx := math.Inf(-1)
	for i := range n {
		mx = max(mx, float64(logits[id(i)]))
	}
	var sum float64
	for i := range n {
		ws[i] = math.Exp((float64(logits[id(i)]) - mx) / temperature)
		sum += ws[i]
	}
	u := rng.Float64() * sum
	for i := range n {
		if u -= ws[i]; u <= 0 {
			return id(i)
		}
	}
	return id(n - 1)
}
