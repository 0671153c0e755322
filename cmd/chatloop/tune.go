package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/tune"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/lora"
	"github.com/chatloop/chatloop/model/train"
)

func init() {
	commands = append(commands, newTuneCommand)
}

type tuneFlags struct {
	model, db, data, out, method, targets, init string
	socket                                      string
	beta, lr, holdout                           float64
	rank, epochs, batch, maxLen, threads        int
	alpha                                       float64
	seed                                        uint64
	resume                                      bool
	checkpointEvery                             int
	online                                      onlineFlags
}

func newTuneCommand(a *app) *cobra.Command {
	var f tuneFlags
	cmd := &cobra.Command{
		Use:   "tune --model BASE.gguf (--db FILE | --data FILE.jsonl) --out ADAPTER.gguf",
		Short: "Train a LoRA adapter on the preference pairs with DPO, here, on the CPU",
		Long: `Train a LoRA adapter on the collected preference pairs (siblings with different
net scores and A/B choices, rendered exactly as the model saw them), or on TRL
preference JSONL (conversational or plain text), with DPO as TRL's DPOTrainer
computes it (or IPO). The base stays frozen; the adapter is written in
llama.cpp's GGUF LoRA format, for chatloop chat/run --lora and llama.cpp.

A share of the prompts (--holdout) is held out: the held-out accuracy is the
share of their pairs whose implicit reward β·(log π − log π_ref) ranks the
chosen answer first (0.5 is chance; the base scores 0 as every reward is 0).
A checkpoint (OUT.ckpt) is written every --checkpoint-every steps and on
Ctrl-C; --resume continues it. The same data and --seed give the same adapter.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.tune(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "base GGUF model file (default: [model] path)")
	fl.StringVar(&f.db, "db", "", "feedback database to train on (default: [feedback] db, when --data is not given)")
	fl.StringVar(&f.socket, "socket", "", `socket of a running chatloop holding the database (default: [feedback] socket, else "<db>.sock")`)
	fl.StringVar(&f.data, "data", "", "TRL preference JSONL file (chatloop feedback export --format preference, or plain-text prompt/chosen/rejected)")
	fl.StringVar(&f.out, "out", "", "adapter file to write (GGUF LoRA)")
	fl.StringVar(&f.method, "method", "dpo", "loss: dpo (sigmoid) or ipo")
	fl.Float64Var(&f.beta, "beta", 0.1, "DPO β: how far the policy may move from the base")
	fl.IntVar(&f.rank, "rank", 8, "LoRA rank")
	fl.Float64Var(&f.alpha, "alpha", 16, "LoRA alpha (the update is scaled by alpha/rank)")
	fl.StringVar(&f.targets, "targets", "all", "matrices to adapt in every layer: q,k,v,o,gate,up,down (or attn_q,…, q_proj,…)")
	fl.IntVar(&f.epochs, "epochs", 1, "passes over the training pairs")
	fl.Float64Var(&f.lr, "lr", 5e-5, "AdamW learning rate (decays linearly to 0)")
	fl.IntVar(&f.batch, "batch", 4, "pairs per optimizer step (gradient accumulation)")
	fl.IntVar(&f.maxLen, "max-len", 0, "skip pairs with a sequence longer than this many tokens (default: the model's context, where a longer pair is an error)")
	fl.Float64Var(&f.holdout, "holdout", 0.1, "share of prompts held out for evaluation")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the split, the initialization and the order")
	fl.BoolVar(&f.resume, "resume", false, "continue from the checkpoint OUT.ckpt")
	fl.IntVar(&f.checkpointEvery, "checkpoint-every", 50, "steps between checkpoints")
	fl.StringVar(&f.init, "init", "", "start from this adapter (made for the same base) instead of a fresh one")
	fl.IntVar(&f.threads, "threads", -1, "threads (default: [model] threads; 0: one per core)")
	f.online.bind(fl)
	return cmd
}

func (a *app) tune(cmd *cobra.Command, f *tuneFlags) error {
	cfg, err := a.config(cmd)
	if err != nil {
		return err
	}
	if f.out == "" {
		return errors.New("--out is required (the adapter file to write)")
	}
	if f.online.on {
		return a.tuneOnline(cmd, cfg, f)
	}
	if f.db != "" && f.data != "" {
		return errors.New("give --db or --data, not both")
	}
	loss, err := train.ParseLoss(f.method)
	if err != nil {
		return err
	}
	targets, err := train.ParseTargets(f.targets)
	if err != nil {
		return err
	}
	if f.maxLen < 0 {
		return fmt.Errorf("--max-len %d: want 0 or more", f.maxLen)
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	log := a.logger()

	// the pairs, before the model: a database without pairs stops here
	exs, source, err := a.tuneExamples(ctx, cmd, f)
	if err != nil {
		return err
	}
	if len(exs) == 0 {
		return fmt.Errorf("%w in %s: vote on answers and regenerate (/regen), or pick in A/B offers, then tune again", tune.ErrNoPairs, source)
	}

	threads := trainingThreads(cfg, f.threads)
	e, err := a.loadTrainingBase(cmd, cfg, f.model, threads)
	if err != nil {
		return err
	}
	defer e.Close()
	mcfg, w, err := e.Weights()
	if err != nil {
		return err
	}
	m, err := train.New(mcfg, w, threads)
	if err != nil {
		return err
	}
	defer m.Close()
	limit := mcfg.ContextLength
	if limit <= 0 {
		limit = model.DefaultContext
	}
	if f.maxLen > 0 {
		limit = min(limit, f.maxLen)
	}
	m.Context = limit

	var pairs []tune.Pair
	skipped, same := 0, 0
	for i := range exs {
		if exs[i].Same() { // two equal answers voted apart teach nothing
			same++
			continue
		}
		c, r, p, err := tune.Render(e, &exs[i])
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		if n := max(len(c.Tokens), len(r.Tokens)); n > limit {
			if f.maxLen > 0 {
				skipped++
				continue
			}
			return fmt.Errorf("%w: %s line %d has a %d-token sequence; the model's context is %d (give --max-len N to skip pairs longer than N)",
				tune.ErrTooLong, source, exs[i].Line, n, limit)
		}
		pairs = append(pairs, tune.Pair{Preference: train.Preference{Chosen: c, Rejected: r}, Prompt: p, Line: exs[i].Line})
	}
	if same > 0 {
		fmt.Fprintf(a.stderr, "skipped %d pairs whose two answers are the same text\n", same)
	}
	if skipped > 0 {
		fmt.Fprintf(a.stderr, "skipped %d of %d pairs longer than --max-len %d\n", skipped, len(exs), f.maxLen)
	}
	if len(pairs) == 0 {
		return fmt.Errorf("%w in %s within --max-len %d", tune.ErrNoPairs, source, f.maxLen)
	}
	trainSet, held := tune.Split(pairs, f.holdout, f.seed)
	fmt.Fprintf(a.stderr, "%s: %d pairs, %d prompts' pairs held out (%d pairs)\n", source, len(pairs), len(pairs)-len(trainSet), len(held))

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

	// reference log-probabilities, once
	refBar := a.tuneBar(len(pairs), "reference")
	all := append(append([]tune.Pair(nil), trainSet...), held...)
	if err := tune.References(ctx, m, all, refBar.set); err != nil {
		refBar.finish()
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted before training; nothing written: %w", ctx.Err())
		}
		return err
	}
	refBar.finish()
	copy(trainSet, all[:len(trainSet)])
	copy(held, all[len(trainSet):])

	o := tune.Options{Loss: loss, Beta: f.beta, Rank: f.rank, Alpha: float32(f.alpha), Targets: targets, Epochs: f.epochs,
		LR: f.lr, Batch: f.batch, Holdout: f.holdout, Seed: f.seed, Checkpoint: f.out + ".ckpt",
		CheckpointEvery: f.checkpointEvery, Resume: f.resume, Log: log, Init: initAd}
	steps := (len(trainSet) + max(f.batch, 1) - 1) / max(f.batch, 1) * max(f.epochs, 1)
	bar := a.tuneBar(steps, "tune")
	lastLog := time.Now()
	o.Progress = func(p tune.Progress) {
		desc := fmt.Sprintf("loss %.4f held-out acc %s margin %s  %.2f pairs/s", p.Loss, fmtNaN(p.HeldAccuracy, "%.2f"), fmtNaN(p.HeldMargin, "%.3f"), p.PairsPerSec)
		if bar.bar != nil {
			bar.bar.Describe(desc)
			bar.set(p.Step)
			return
		}
		if time.Since(lastLog) >= 10*time.Second || p.Step == p.Steps {
			lastLog = time.Now()
			log.Info("tune", "step", p.Step, "steps", p.Steps, "epoch", p.Epoch, "loss", round4(p.Loss), "held_out_accuracy", round4(p.HeldAccuracy),
				"held_out_margin", round4(p.HeldMargin), "grad_norm", round4(p.GradNorm), "lr", p.LR, "pairs_per_s", round4(p.PairsPerSec), "eta", p.ETA.Round(time.Second))
		}
	}
	start := time.Now()
	res, err := tune.Run(ctx, m, trainSet, held, o)
	bar.finish()
	if errors.Is(err, tune.ErrInterrupted) {
		return fmt.Errorf("interrupted at step %d of %d; state saved in %s (continue with --resume); %s not written: %w",
			res.Last.Step, steps, o.Checkpoint, f.out, err)
	}
	if err != nil {
		return err
	}
	la := res.Adapter.ToLoRA(&mcfg)
	la.Name = fmt.Sprintf("chatloop tune %s β=%g on %d pairs", loss, f.beta, len(trainSet))
	if err := lora.Write(f.out, la); err != nil {
		return err
	}
	if err := os.Remove(o.Checkpoint); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("tune: removing the checkpoint", "err", err)
	}
	fmt.Fprintf(a.stdout, "trained %d steps in %s (%.2f pairs/s)\n", res.Last.Step-res.Resumed, time.Since(start).Round(time.Second), res.Last.PairsPerSec)
	if res.After.Pairs > 0 {
		fmt.Fprintf(a.stdout, "held-out (%d pairs): loss %.4f → %.4f, accuracy %.3f → %.3f, reward margin %.3f → %.3f\n",
			res.After.Pairs, res.Before.Loss, res.After.Loss, res.Before.Accuracy, res.After.Accuracy, res.Before.Margin, res.After.Margin)
	}
	fmt.Fprintf(a.stdout, "wrote %s (rank %d, alpha %g, %d matrices); serve it with --lora %s\n", f.out, f.rank, f.alpha, len(la.Pairs), f.out)
	return nil
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func fmtNaN(v float64, format string) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// tuneExamples reads the preference pairs from --data or the feedback
// database (through its socket when a running chatloop holds it).
func (a *app) tuneExamples(ctx context.Context, cmd *cobra.Command, f *tuneFlags) ([]tune.Example, string, error) {
	if f.data != "" {
		fh, err := os.Open(f.data)
		if err != nil {
			return nil, "", err
		}
		defer fh.Close()
		exs, err := tune.ReadJSONL(fh)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", f.data, err)
		}
		return exs, f.data, nil
	}
	ff := feedbackFlags{db: f.db, socket: f.socket}
	svc, where, done, err := a.openFeedback(cmd, &ff, true)
	if err != nil {
		return nil, "", err
	}
	defer done()
	var buf bytes.Buffer
	if _, err := svc.Export(ctx, &buf, feedback.ExportOptions{Format: feedback.FormatPreference}); err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", where, err)
	}
	exs, err := tune.ReadJSONL(&buf)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", where, err)
	}
	return exs, where, nil
}

// tuneBar is a progress bar on a terminal, nothing elsewhere.
type tuneBar struct {
	bar *progressbar.ProgressBar
	w   io.Writer
}

func (a *app) tuneBar(total int, desc string) *tuneBar {
	b := &tuneBar{w: a.stderr}
	if isTerminal(a.stderr) {
		b.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("steps"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(200*time.Millisecond),
		)
	}
	return b
}

func (b *tuneBar) set(n int) {
	if b.bar != nil {
		b.bar.Set(n)
	}
}

func (b *tuneBar) finish() {
	if b.bar != nil {
		b.bar.Finish()
		fmt.Fprintln(b.w)
	}
}
