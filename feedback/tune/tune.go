// Package tune trains a LoRA adapter on preference pairs with DPO (or
// IPO), the way Hugging Face TRL's DPOTrainer does, on the CPU: the pairs
// come from chatloop's feedback store (through its preference export) or
// from TRL preference JSONL, are rendered as the model saw them, split by
// prompt into training and held-out sets, and the adapter is trained with
// AdamW by model/train's backward pass on the frozen base.
package tune

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/chatloop/chatloop/model/train"
)

// ErrInterrupted is returned when the context is cancelled mid-training;
// the checkpoint then holds the last finished step.
var ErrInterrupted = errors.New("tune: interrupted")

// Options configure a training run. The zero value of a field means its
// default (DefaultOptions).
type Options struct {
	Loss    train.Loss
	Beta    float64
	Rank    int
	Alpha   float32
	Targets []train.Target
	Epochs  int
	LR      float64
	// Batch is how many pairs' gradients are accumulated (and averaged)
	// per optimizer step.
	Batch int
	// Holdout is the share of prompts held out for evaluation (0 to <1).
	Holdout float64
	Seed    uint64
	// EvalEvery is how many steps pass between held-out evaluations (the
	// last step is always evaluated); 0 means about ten per run.
	EvalEvery int
	// Checkpoint, when not empty, is the file the state is saved to every
	// CheckpointEvery steps, when the context is cancelled, and at the
	// end; Resume continues from it.
	Checkpoint      string
	CheckpointEvery int
	Resume          bool
	// Init, when not nil, is the adapter to start from (its rank, alpha and
	// targets replace Rank, Alpha and Targets); it is trained in place.
	Init *train.Adapter
	// Progress, when not nil, is called after every step.
	Progress func(Progress)
	Log      *slog.Logger
}

// DefaultOptions are chatloop tune's defaults: TRL's beta and PEFT's
// usual rank and alpha, every block matrix adapted.
func DefaultOptions() Options {
	return Options{Loss: train.LossSigmoid, Beta: 0.1, Rank: 8, Alpha: 16, Targets: train.AllTargets,
		Epochs: 1, LR: 5e-5, Batch: 4, Holdout: 0.1, CheckpointEvery: 50}
}

func (o *Options) fill() error {
	d := DefaultOptions()
	if o.Loss == "" {
		o.Loss = d.Loss
	}
	if o.Beta == 0 {
		o.Beta = d.Beta
	}
	if o.Rank == 0 {
		o.Rank = d.Rank
	}
	if o.Alpha == 0 {
		o.Alpha = d.Alpha
	}
	if o.Targets == nil {
		o.Targets = d.Targets
	}
	if o.Epochs == 0 {
		o.Epochs = d.Epochs
	}
	if o.LR == 0 {
		o.LR = d.LR
	}
	if o.Batch == 0 {
		o.Batch = d.Batch
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = d.CheckpointEvery
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case !(o.Beta > 0):
		return fmt.Errorf("tune: beta %v must be positive", o.Beta)
	case o.Rank < 0 || !(o.Alpha > 0):
		return fmt.Errorf("tune: rank %d and alpha %v must be positive", o.Rank, o.Alpha)
	case o.Epochs < 0 || o.Batch < 0:
		return fmt.Errorf("tune: epochs %d and batch %d must be positive", o.Epochs, o.Batch)
	case !(o.LR > 0):
		return fmt.Errorf("tune: learning rate %v must be positive", o.LR)
	case o.Holdout < 0 || o.Holdout >= 1:
		return fmt.Errorf("tune: holdout %v must be in [0, 1)", o.Holdout)
	}
	return nil
}

// Pair is a rendered preference pair and the prompt it answers.
type Pair struct {
	train.Preference
	Prompt []int32
	Line   int
}

// Split divides pairs by prompt: a share holdout of the distinct prompts,
// drawn with seed, goes to the held-out set with all their pairs (at
// least one prompt when holdout > 0 and there are two or more; never all).
func Split(pairs []Pair, holdout float64, seed uint64) (trainSet, held []Pair) {
	keys := map[string]bool{}
	for _, p := range pairs {
		keys[promptKey(p.Prompt)] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	rng := rand.New(rand.NewPCG(seed, 0x686f6c646f7574))
	rng.Shuffle(len(sorted), func(i, j int) { sorted[i], sorted[j] = sorted[j], sorted[i] })
	nh := int(math.Round(holdout * float64(len(sorted))))
	if holdout > 0 && nh == 0 && len(sorted) >= 2 {
		nh = 1
	}
	nh = min(nh, len(sorted)-1)
	out := map[string]bool{}
	for _, k := range sorted[:max(nh, 0)] {
		out[k] = true
	}
	for _, p := range pairs {
		if out[promptKey(p.Prompt)] {
			held = append(held, p)
		} else {
			trainSet = append(trainSet, p)
		}
	}
	return trainSet, held
}

func promptKey(p []int32) string {
	b := make([]byte, 4*len(p))
	for i, t := range p {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
	}
	return string(b)
}

// Progress is the state of a run after a step.
type Progress struct {
	Step, Steps, Epoch int
	// Loss is the mean training loss of the step's pairs, Accuracy the
	// share of them whose implicit reward ranked the chosen answer first,
	// Margin their mean reward margin (chosen − rejected).
	Loss, Accuracy, Margin float64
	// HeldAccuracy, HeldMargin and HeldLoss are those of the held-out
	// pairs at the last evaluation (NaN before the first or without
	// held-out pairs); HeldAt is the step it was made at.
	HeldAccuracy, HeldMargin, HeldLoss float64
	HeldAt                             int
	GradNorm, LR                       float64
	// PairsPerSec counts training pairs processed per second of this
	// session (not counting the reference pass).
	PairsPerSec float64
	Elapsed     time.Duration
	ETA         time.Duration
}

// Result is the outcome of a run.
type Result struct {
	Adapter *train.Adapter
	Last    Progress
	// Before is the held-out evaluation of the untrained adapter (the
	// base: accuracy 0, the loss's value at the reference).
	Before Eval
	// After is the held-out evaluation of the final adapter.
	After Eval
	// Resumed is the step the run continued from (0 for a fresh one).
	Resumed int
}

// Eval summarises a set of pairs under an adapter.
type Eval struct {
	Pairs                  int
	Loss, Accuracy, Margin float64
}

// Evaluate returns the loss, accuracy and mean margin of pairs under ad.
func Evaluate(ctx context.Context, m *train.Model, pairs []Pair, ad *train.Adapter, o Options) (Eval, error) {
	ev := Eval{Pairs: len(pairs)}
	if len(pairs) == 0 {
		ev.Loss, ev.Accuracy, ev.Margin = math.NaN(), math.NaN(), math.NaN()
		return ev, nil
	}
	for i := range pairs {
		if err := ctx.Err(); err != nil {
			return ev, err
		}
		r, err := m.Eval(&pairs[i].Preference, ad, o.Loss, o.Beta)
		if err != nil {
			return ev, fmt.Errorf("tune: pair on line %d: %w", pairs[i].Line, err)
		}
		ev.Loss += r.Loss
		ev.Margin += r.ChosenReward - r.RejectedReward
		if r.Correct() {
			ev.Accuracy++
		}
	}
	n := float64(len(pairs))
	ev.Loss, ev.Accuracy, ev.Margin = ev.Loss/n, ev.Accuracy/n, ev.Margin/n
	return ev, nil
}

// References computes every pair's reference log-probabilities (the base
// without adapter), once.
func References(ctx context.Context, m *train.Model, pairs []Pair, onPair func(done int)) error {
	for i := range pairs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := m.Reference(&pairs[i].Preference); err != nil {
			return fmt.Errorf("tune: pair on line %d: %w", pairs[i].Line, err)
		}
		if onPair != nil {
			onPair(i + 1)
		}
	}
	return nil
}

// dataHash identifies the training and held-out pairs (their tokens and
// order), so that a checkpoint is resumed only on the same data.
func dataHash(trainSet, held []Pair) [32]byte {
	h := sha256.New()
	var b [8]byte
	for _, set := range [][]Pair{trainSet, held} {
		binary.LittleEndian.PutUint64(b[:], uint64(len(set)))
		h.Write(b[:])
		for _, p := range set {
			for _, s := range []train.Seq{p.Chosen, p.Rejected} {
				binary.LittleEndian.PutUint64(b[:], uint64(s.Start))
				h.Write(b[:])
				h.Write([]byte(promptKey(int32s(s.Tokens))))
			}
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func int32s(v []int) []int32 {
	out := make([]int32, len(v))
	for i, t := range v {
		out[i] = int32(t)
	}
	return out
}

// order is epoch's shuffled order of n training pairs: a function of the
// seed and the epoch only, so that a resumed run visits the same pairs.
func order(n int, seed uint64, epoch int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, uint64(epoch)+1))
	rng.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	return idx
}

// Run trains an adapter on trainSet, whose reference log-probabilities
// must be set (References), evaluating on held. The learning rate decays
// linearly to zero over the run (the Trainer's default schedule). When
// ctx is cancelled it saves a checkpoint (if o.Checkpoint is set) and
// returns ErrInterrupted with the adapter so far.
func Run(ctx context.Context, m *train.Model, trainSet, held []Pair, o Options) (*Result, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	if len(trainSet) == 0 {
		return nil, fmt.Errorf("%w to train on", ErrNoPairs)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6c6f7261))
	ad, err := train.NewAdapter(&m.Config, o.Targets, o.Rank, o.Alpha, rng)
	if err != nil {
		return nil, err
	}
	if o.Init != nil {
		if err := o.Init.Check(&m.Config); err != nil {
			return nil, err
		}
		ad = o.Init
		o.Rank, o.Alpha, o.Targets = ad.Rank, ad.Alpha, ad.Targets()
	}
	opt := train.NewAdamW(ad, o.LR)
	perEpoch := (len(trainSet) + o.Batch - 1) / o.Batch
	steps := perEpoch * o.Epochs
	hash := dataHash(trainSet, held)
	res := &Result{Adapter: ad}
	start := 0
	if o.Resume && o.Checkpoint != "" {
		ck, err := loadCheckpoint(o.Checkpoint)
		switch {
		case errors.Is(err, errNoCheckpoint):
			o.Log.Info("no checkpoint to resume; starting afresh", "checkpoint", o.Checkpoint)
		case err != nil:
			return nil, err
		default:
			if err := ck.restore(ad, opt, hash, o, steps); err != nil {
				return nil, err
			}
			start = ck.Step
			res.Resumed = start
			o.Log.Info("resumed", "checkpoint", o.Checkpoint, "step", start, "steps", steps)
		}
	}
	if res.Before, err = Evaluate(ctx, m, held, nil, o); err != nil {
		return nil, err
	}
	evalEvery := o.EvalEvery
	if evalEvery <= 0 {
		evalEvery = max(1, steps/10)
	}
	pr := Progress{Steps: steps, HeldAccuracy: math.NaN(), HeldMargin: math.NaN(), HeldLoss: math.NaN()}
	began := time.Now()
	done := 0
	save := func(step int) error {
		if o.Checkpoint == "" {
			return nil
		}
		return saveCheckpoint(o.Checkpoint, newCheckpoint(step, ad, opt, hash, o, steps))
	}
	grad := ad.Zero()
	for step := start; step < steps; step++ {
		if ctx.Err() != nil {
			if err := save(step); err != nil {
				return res, errors.Join(ErrInterrupted, err)
			}
			return res, ErrInterrupted
		}
		epoch := step / perEpoch
		idx := order(len(trainSet), o.Seed, epoch)
		b0 := (step % perEpoch) * o.Batch
		batch := idx[b0:min(b0+o.Batch, len(idx))]
		for _, g := range grad.Params() {
			clear(g)
		}
		var loss, acc, margin float64
		for _, i := range batch {
			r, err := m.Step(&trainSet[i].Preference, ad, grad, o.Loss, o.Beta, 1/float32(len(batch)))
			if err != nil {
				return res, fmt.Errorf("tune: pair on line %d: %w", trainSet[i].Line, err)
			}
			loss += r.Loss
			margin += r.ChosenReward - r.RejectedReward
			if r.Correct() {
				acc++
			}
		}
		lr := o.LR * (1 - float64(step)/float64(steps))
		pr.GradNorm = opt.Step(ad, grad, lr)
		nb := float64(len(batch))
		done += len(batch)
		pr.Step, pr.Epoch, pr.LR = step+1, epoch+1, lr
		pr.Loss, pr.Accuracy, pr.Margin = loss/nb, acc/nb, margin/nb
		pr.Elapsed = time.Since(began)
		pr.PairsPerSec = float64(done) / pr.Elapsed.Seconds()
		if len(held) > 0 && ((step+1)%evalEvery == 0 || step+1 == steps) {
			ev, err := Evaluate(ctx, m, held, ad, o)
			if err != nil && ctx.Err() == nil {
				return res, err
			}
			if err == nil {
				pr.HeldAccuracy, pr.HeldMargin, pr.HeldLoss, pr.HeldAt = ev.Accuracy, ev.Margin, ev.Loss, step+1
				if step+1 == steps {
					res.After = ev
				}
			}
		}
		left := steps - step - 1
		pr.ETA = time.Duration(float64(pr.Elapsed) / float64(step+1-start) * float64(left))
		res.Last = pr
		if o.Progress != nil {
			o.Progress(pr)
		}
		if o.CheckpointEvery > 0 && (step+1)%o.CheckpointEvery == 0 && step+1 < steps {
			if err := save(step + 1); err != nil {
				return res, err
			}
		}
	}
	if len(held) > 0 && res.After.Pairs == 0 {
		if res.After, err = Evaluate(ctx, m, held, ad, o); err != nil {
			return res, err
		}
	} else if len(held) == 0 {
		res.After = Eval{Loss: math.NaN(), Accuracy: math.NaN(), Margin: math.NaN()}
	}
	if err := save(steps); err != nil {
		return res, err
	}
	return res, nil
}
