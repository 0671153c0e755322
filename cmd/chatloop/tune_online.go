package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/online"
	"github.com/chatloop/chatloop/feedback/reward"
	"github.com/chatloop/chatloop/feedback/tune"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/lora"
	"github.com/chatloop/chatloop/model/train"
)

// onlineFlags are chatloop tune's flags of the online round.
type onlineFlags struct {
	on             bool
	rm, prompts    string
	samples        int
	rounds         int
	maxTokens      int
	temperature    float64
	onlineHoldout  float64
	maxPromptCount int
}

func (f *onlineFlags) bind(fl *pflag.FlagSet) {
	fl.BoolVar(&f.on, "online", false, "the online round: the policy (base + adapter) samples answers, the reward model (--rm) ranks them, DPO trains on best over worst, repeated --rounds times")
	fl.StringVar(&f.rm, "rm", "", "reward head (chatloop reward train --out) that scores the samples of --online")
	fl.StringVar(&f.prompts, "prompts", "", "prompts for --online, one a line (or JSONL with a \"prompt\" string or message list); default: the database's stored prompts")
	fl.IntVar(&f.samples, "samples", 4, "answers sampled per prompt and round (--online)")
	fl.IntVar(&f.rounds, "rounds", 1, "rounds of sampling, ranking and training (--online)")
	fl.IntVar(&f.maxTokens, "sample-max-tokens", 64, "longest sampled answer, in tokens (--online)")
	fl.Float64Var(&f.temperature, "sample-temperature", 1, "sampling temperature (--online)")
	fl.IntVar(&f.maxPromptCount, "max-prompts", 200, "use at most this many prompts per round (--online; 0: all)")
}

// tuneOnline runs chatloop tune --online.
func (a *app) tuneOnline(cmd *cobra.Command, cfg *Config, f *tuneFlags) error {
	o := &f.online
	switch {
	case o.rm == "":
		return errors.New("--online needs --rm HEAD, the reward model (chatloop reward train --out HEAD)")
	case f.data != "":
		return errors.New("--online samples its own answers: give --prompts FILE or --db, not --data")
	case o.samples < 2:
		return fmt.Errorf("--samples %d: a pair needs at least 2", o.samples)
	case o.rounds < 1:
		return fmt.Errorf("--rounds %d: want 1 or more", o.rounds)
	case o.maxTokens < 1:
		return fmt.Errorf("--sample-max-tokens %d: want 1 or more", o.maxTokens)
	case !(o.temperature > 0) || math.IsInf(o.temperature, 0):
		return fmt.Errorf("--sample-temperature %v: want a positive number", o.temperature)
	case o.maxPromptCount < 0:
		return fmt.Errorf("--max-prompts %d: want 0 or more", o.maxPromptCount)
	}
	loss, err := train.ParseLoss(f.method)
	if err != nil {
		return err
	}
	targets, err := train.ParseTargets(f.targets)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(cmd)
	defer stop()

	prompts, source, err := a.onlinePrompts(cmd, f)
	if err != nil {
		return err
	}
	if len(prompts) == 0 {
		return fmt.Errorf("%w in %s: chat first, or give --prompts FILE", online.ErrNoPrompts, source)
	}
	threads := trainingThreads(cfg, f.threads)
	e, err := a.loadTrainingBase(cmd, cfg, f.model, threads)
	if err != nil {
		return err
	}
	defer e.Close()
	feat, err := newEngineFeaturizer(e)
	if err != nil {
		return err
	}
	head, err := reward.Load(o.rm, feat.Backbone())
	if err != nil {
		return fmt.Errorf("--rm: %w", err)
	}
	mcfg, w, err := e.Weights()
	if err != nil {
		return err
	}
	m, err := train.New(mcfg, w, threads)
	if err != nil {
		return err
	}
	defer m.Close()
	m.Context = e.ContextSize()
	if f.maxLen > 0 {
		m.Context = min(m.Context, f.maxLen)
	}

	var initAd *train.Adapter
	if f.init != "" {
		la, err := lora.Read(f.init)
		if err != nil {
			return err
		}
		if err := la.Check(e.AdapterShapes()); err != nil {
			return err
		}
		if initAd, err = train.FromLoRA(&mcfg, la); err != nil {
			return fmt.Errorf("%s: %w", f.init, err)
		}
	}

	// Held-out prompts: a share of them (--holdout, at least one), never
	// trained on.
	rng := rand.New(rand.NewPCG(f.seed, 0x686f6c64))
	rng.Shuffle(len(prompts), func(i, j int) { prompts[i], prompts[j] = prompts[j], prompts[i] })
	nHeld := int(math.Round(f.holdout * float64(len(prompts))))
	if len(prompts) > 1 {
		nHeld = max(nHeld, 1)
	}
	held, trainP := prompts[:nHeld], prompts[nHeld:]
	if len(trainP) == 0 {
		trainP = held
	}
	if o.maxPromptCount > 0 && len(trainP) > o.maxPromptCount {
		trainP = trainP[:o.maxPromptCount]
	}
	fmt.Fprintf(a.stderr, "%s: %d prompts to sample for, %d held out; %d samples each, %d rounds\n", source, len(trainP), len(held), o.samples, o.rounds)

	opts := online.Options{Rounds: o.rounds, Samples: o.samples, MaxTokens: o.maxTokens, Temperature: o.temperature, Seed: f.seed,
		Tune: tune.Options{Loss: loss, Beta: f.beta, Rank: f.rank, Alpha: float32(f.alpha), Targets: targets, Epochs: f.epochs,
			LR: f.lr, Batch: f.batch, Seed: f.seed, Init: initAd, Log: a.logger()}}
	sc := &reward.Scorer{Featurizer: feat, Head: head}
	res, err := online.Run(ctx, m, e, trainP, held, sc, opts, func(r online.Round) {
		fmt.Fprintf(a.stdout, "round %d: %d pairs, mean reward of the samples %.4f, loss %s; held-out mean reward of fresh samples %s\n",
			r.Round, r.Pairs, r.TrainScore, fmtNaN(r.Loss, "%.4f"), fmtNaN(r.HeldScore, "%.4f"))
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; %s not written: %w", f.out, err)
		}
		return err
	}
	if res.Adapter == nil {
		return fmt.Errorf("no round made a pair (every prompt's samples scored alike); %s not written", f.out)
	}
	if len(res.Rounds) > 0 {
		fmt.Fprintf(a.stdout, "held-out mean reward: %s before, %s after %d rounds\n", fmtNaN(res.Before, "%.4f"), fmtNaN(res.Rounds[len(res.Rounds)-1].HeldScore, "%.4f"), len(res.Rounds))
	}
	la := res.Adapter.ToLoRA(&mcfg)
	la.Name = fmt.Sprintf("chatloop tune --online %s β=%g, %d rounds of %d samples", loss, f.beta, o.rounds, o.samples)
	if err := lora.Write(f.out, la); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s (rank %d, alpha %g, %d matrices); serve it with --lora %s\n", f.out, res.Adapter.Rank, res.Adapter.Alpha, len(la.Pairs), f.out)
	return nil
}

// onlinePrompts reads the prompts of --prompts FILE (one a line: plain
// text as a user message, or a JSON object whose "prompt" is a string or a
// message list), else the distinct prompts stored in the database.
func (a *app) onlinePrompts(cmd *cobra.Command, f *tuneFlags) ([][]model.Message, string, error) {
	if p := f.online.prompts; p != "" {
		fh, err := os.Open(p)
		if err != nil {
			return nil, "", err
		}
		defer fh.Close()
		var out [][]model.Message
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		line := 0
		for sc.Scan() {
			line++
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			if !strings.HasPrefix(text, "{") {
				out = append(out, []model.Message{{Role: "user", Content: text}})
				continue
			}
			var row struct {
				Prompt json.RawMessage `json:"prompt"`
			}
			if err := json.Unmarshal([]byte(text), &row); err != nil {
				return nil, "", fmt.Errorf("%s line %d: %w", p, line, err)
			}
			var s string
			var ms []model.Message
			switch {
			case json.Unmarshal(row.Prompt, &s) == nil && s != "":
				out = append(out, []model.Message{{Role: "user", Content: s}})
			case json.Unmarshal(row.Prompt, &ms) == nil && len(ms) > 0:
				out = append(out, ms)
			default:
				return nil, "", fmt.Errorf("%s line %d: want a \"prompt\" string or message list", p, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, "", fmt.Errorf("%s: %w", p, err)
		}
		return out, p, nil
	}
	ff := feedbackFlags{db: f.db, socket: f.socket}
	svc, where, done, err := a.openFeedback(cmd, &ff, true)
	if err != nil {
		return nil, "", err
	}
	defer done()
	var buf bytes.Buffer
	if _, err := svc.Export(cmd.Context(), &buf, feedback.ExportOptions{Format: feedback.FormatRaw}); err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", where, err)
	}
	seen := map[string]bool{}
	var out [][]model.Message
	dec := json.NewDecoder(&buf)
	for {
		var r feedback.RawRow
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, "", fmt.Errorf("reading %s: %w", where, err)
		}
		key, _ := json.Marshal(r.Prompt)
		if len(r.Prompt) == 0 || seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		out = append(out, r.Prompt)
	}
	return out, where, nil
}
