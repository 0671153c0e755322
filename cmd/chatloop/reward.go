package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/reward"
	"github.com/chatloop/chatloop/model"
)

func init() {
	commands = append(commands, newRewardCommand)
}

func newRewardCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reward",
		Short: "Train, evaluate and apply a reward model on the collected votes",
		Long: `A reward model scores answers: the local model, frozen, reads the prompt and
the answer, and a small head trained on your preference pairs turns its final
hidden state into a score. With [reward] path set to a trained head and
[reward] best_of = n, the bot samples n answers and sends the best-scoring one.

Backbone features are cached beside the head (RM.features.db), so training
again after new votes only runs the model on what is new.`,
	}
	cmd.AddCommand(newRewardTrainCommand(a), newRewardEvalCommand(a), newRewardScoreCommand(a))
	return cmd
}

// rewardFlags are the flags every reward command shares.
type rewardFlags struct {
	model, data, cache string
}

func (f *rewardFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "GGUF model file, the backbone (default: [model] path)")
	fl.StringVar(&f.data, "data", "", "JSONL file of preference and/or kto rows (chatloop feedback export)")
	fl.StringVar(&f.cache, "cache", "", `feature cache file (default: the head's path + ".features.db"; "off": none)`)
}

// rewardEnv is a loaded backbone with its (cached) featurizer.
type rewardEnv struct {
	engine *model.Engine
	feat   reward.Featurizer
	cached *reward.CachedFeaturizer
	cache  *reward.Cache
}

func (env *rewardEnv) close() {
	if env.cache != nil {
		env.cache.Close()
	}
	env.engine.Close()
}

// openRewardEnv loads the backbone and the feature cache.
func (a *app) openRewardEnv(cmd *cobra.Command, cfg *Config, f *rewardFlags, headPath string) (*rewardEnv, error) {
	if f.model != "" {
		cfg.Model.Path = f.model
	}
	if cfg.Model.Path == "" {
		return nil, errors.New("--model is required (the GGUF file the reward head reads)")
	}
	cfg.Model.Adapters = nil // the reward head reads the base model's hidden states
	e, err := a.loadEngine(cmd, cfg)
	if err != nil {
		return nil, err
	}
	ef, err := newEngineFeaturizer(e)
	if err != nil {
		e.Close()
		return nil, err
	}
	env := &rewardEnv{engine: e, feat: ef}
	cachePath := f.cache
	if cachePath == "" {
		cachePath = headPath + ".features.db"
	}
	if cachePath != "off" {
		c, err := reward.OpenCache(cachePath)
		if err != nil {
			e.Close()
			return nil, err
		}
		env.cache, env.cached = c, reward.Cached(ef, c)
		env.feat = env.cached
	}
	return env, nil
}

// readDataFile reads a preference/kto JSONL file.
func readDataFile(path string) (reward.Dataset, error) {
	fh, err := os.Open(path)
	if err != nil {
		return reward.Dataset{}, err
	}
	defer fh.Close()
	ds, err := reward.ReadJSONL(fh)
	if err != nil {
		return ds, fmt.Errorf("%s: %w", path, err)
	}
	return ds, nil
}

// readStore exports the preference pairs and the votes of the feedback
// database.
func (a *app) readStore(ctx context.Context, cfg *Config) (reward.Dataset, error) {
	// While `chatloop run` holds the database, its socket serves the
	// export, as for `chatloop feedback export`.
	store, _, done, err := a.openFeedbackAt(cfg.Feedback.DB, socketPath(cfg), true)
	if err != nil {
		return reward.Dataset{}, err
	}
	defer done()
	var all reward.Dataset
	for _, format := range []string{feedback.FormatPreference, feedback.FormatKTO} {
		var buf bytes.Buffer
		if _, err := store.Export(ctx, &buf, feedback.ExportOptions{Format: format}); err != nil {
			return all, fmt.Errorf("reading %s: %w", cfg.Feedback.DB, err)
		}
		ds, err := reward.ReadJSONL(&buf)
		if err != nil {
			return all, fmt.Errorf("reading %s: %w", cfg.Feedback.DB, err)
		}
		all.Pairs = append(all.Pairs, ds.Pairs...)
		all.Points = append(all.Points, ds.Points...)
	}
	return all, nil
}

// featurize computes the features of ds, with a progress bar on a
// terminal (a log file gets the summary line only).
func (a *app) featurize(ctx context.Context, env *rewardEnv, ds reward.Dataset) (reward.FeatureSet, error) {
	var bar *progressbar.ProgressBar
	start := time.Now()
	onTerminal := isTerminal(a.stderr)
	computed := 0
	set, err := reward.Featurize(ctx, ds, env.feat, func(done, total int) {
		computed = total
		if !onTerminal {
			return
		}
		if bar == nil {
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(a.stderr),
				progressbar.OptionSetDescription("features"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(200*time.Millisecond),
			)
		}
		bar.Set(done)
	})
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(a.stderr)
	}
	if err != nil {
		return set, err
	}
	if env.cached != nil {
		fmt.Fprintf(a.stderr, "features: %d from the cache, %d computed in %s\n", env.cached.Hits, env.cached.Misses, time.Since(start).Round(time.Millisecond))
	} else if !onTerminal {
		fmt.Fprintf(a.stderr, "features: %d computed in %s\n", computed, time.Since(start).Round(time.Millisecond))
	}
	return set, nil
}

func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
}

func newRewardTrainCommand(a *app) *cobra.Command {
	var flags rewardFlags
	var db, out string
	var opts reward.TrainOptions
	cmd := &cobra.Command{
		Use:   "train --model F [--db F | --data FILE.jsonl] --out RM",
		Short: "Train a reward head on preference pairs and votes",
		Long: `Train a reward head on the preference pairs (and, weighted by --kto-weight,
the votes on answers that are in no pair) of the feedback database or of a preference/kto export.
A tenth of the prompts is held out: each epoch prints the training loss and
the held-out pair accuracy, and training stops when the held-out loss has not
improved for --patience epochs, keeping the best epoch. The same data and
--seed give the same head. The head file records the model it was trained
on; loading it with another model is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out is required (the reward head file to write)")
			}
			if db != "" && flags.data != "" {
				return errors.New("give --db or --data, not both")
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			var ds reward.Dataset
			source := flags.data
			if flags.data != "" {
				ds, err = readDataFile(flags.data)
			} else {
				if db != "" {
					cfg.Feedback.DB = db
				}
				source = cfg.Feedback.DB
				ds, err = a.readStore(ctx, cfg)
			}
			if err != nil {
				return err
			}
			ds = ds.Unpaired()
			if len(ds.Pairs) == 0 {
				return fmt.Errorf("%s has no preference pairs to train on (%d single votes); vote on more answers, or use /regen and pick", source, len(ds.Points))
			}
			fmt.Fprintf(a.stdout, "%s: %d preference pairs, %d votes on answers outside them\n", source, len(ds.Pairs), len(ds.Points))
			env, err := a.openRewardEnv(cmd, cfg, &flags, out)
			if err != nil {
				return err
			}
			defer env.close()
			set, err := a.featurize(ctx, env, ds)
			if err != nil {
				return err
			}
			opts.OnEpoch = func(s reward.EpochStats) {
				line := fmt.Sprintf("epoch %3d/%d  train loss %.4f", s.Epoch, s.Epochs, s.TrainLoss)
				if !math.IsNaN(s.HeldOutAccuracy) {
					line += fmt.Sprintf("  held-out accuracy %.3f  loss %.4f", s.HeldOutAccuracy, s.HeldOutLoss)
				}
				if s.Best {
					line += "  *"
				}
				fmt.Fprintln(a.stdout, line)
			}
			start := time.Now()
			head, rep, err := reward.Train(ctx, set, env.feat.Backbone(), opts)
			if err != nil {
				return err
			}
			if err := head.Save(out); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "trained in %s: best epoch %d of %d, train accuracy %.3f", time.Since(start).Round(time.Millisecond), rep.BestEpoch, rep.Epochs, rep.TrainAccuracy)
			if rep.HeldOutPairs > 0 {
				fmt.Fprintf(a.stdout, ", held-out accuracy %.3f on %d pairs (AUC %.3f)", rep.HeldOutAccuracy, rep.HeldOutPairs, rep.HeldOutAUC)
			}
			fmt.Fprintf(a.stdout, "\nsaved %s (backbone %s)\n", out, head.Backbone)
			return nil
		},
	}
	flags.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&db, "db", "", "feedback database to train on (default: [feedback] db, when --data is not given)")
	fl.StringVar(&out, "out", "", "reward head file to write")
	fl.IntVar(&opts.Epochs, "epochs", 100, "most passes over the training pairs")
	fl.Uint64Var(&opts.Seed, "seed", 1, "seed of the split, the initialization and the batch order")
	fl.IntVar(&opts.Hidden, "hidden", 0, "width of a hidden layer (0: a linear head)")
	fl.Float64Var(&opts.LearningRate, "lr", 0.003, "Adam learning rate")
	fl.IntVar(&opts.BatchSize, "batch", 32, "pairs per step")
	fl.Float64Var(&opts.HeldOut, "held-out", 0.1, "fraction of prompts held out (negative: none)")
	fl.IntVar(&opts.Patience, "patience", 10, "stop after this many epochs without a better held-out loss (negative: never)")
	fl.Float64Var(&opts.KTOWeight, "kto-weight", 0.5, "weight of a single vote against a pair (negative: votes unused)")
	return cmd
}

// loadHeadFor loads the head at path for env's backbone.
func loadHeadFor(env *rewardEnv, path string) (*reward.Head, error) {
	if path == "" {
		return nil, errors.New("--rm is required (a head made by chatloop reward train)")
	}
	return reward.Load(path, env.feat.Backbone())
}

// evalResult is what reward eval --json prints; null where undefined.
type evalResult struct {
	Accuracy *float64 `json:"accuracy"`
	AUC      *float64 `json:"auc"`
	Pairs    int      `json:"pairs"`
	Votes    int      `json:"votes"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// scoreDataFile reads --data, loads the backbone and the head rm, and
// computes the features of every row: what eval and score share. done
// releases the backbone.
func (a *app) scoreDataFile(cmd *cobra.Command, cfg *Config, flags *rewardFlags, rm string, needRows bool) (*reward.Head, reward.Dataset, reward.FeatureSet, func(), error) {
	var set reward.FeatureSet
	if flags.data == "" {
		return nil, reward.Dataset{}, set, nil, errors.New("--data is required")
	}
	ds, err := readDataFile(flags.data)
	if err != nil {
		return nil, ds, set, nil, err
	}
	if needRows && len(ds.Pairs)+len(ds.Points) == 0 {
		return nil, ds, set, nil, fmt.Errorf("%s has no rows to evaluate on", flags.data)
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	env, err := a.openRewardEnv(cmd, cfg, flags, rm)
	if err != nil {
		return nil, ds, set, nil, err
	}
	head, err := loadHeadFor(env, rm)
	if err == nil {
		set, err = a.featurize(ctx, env, ds)
	}
	if err != nil {
		env.close()
		return nil, ds, set, nil, err
	}
	return head, ds, set, func() { env.close() }, nil
}

func newRewardEvalCommand(a *app) *cobra.Command {
	var flags rewardFlags
	var rm string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval --model F --rm RM --data FILE.jsonl [--json]",
		Short: "Pair accuracy and AUC of a reward head on a preference/kto file",
		Long: `Score both answers of every preference pair of the file and print the pair
accuracy (the chosen answer scores higher; ties count half) and the AUC (the
chance that a chosen or liked answer outscores a rejected or disliked one).
--json prints {"accuracy": x, "auc": y, "pairs": n, "votes": m}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			head, _, set, done, err := a.scoreDataFile(cmd, cfg, &flags, rm, true)
			if err != nil {
				return err
			}
			defer done()
			var chosen, rejected, pos, neg []float64
			for _, p := range set.Pairs {
				c, err := head.Score(p.Chosen)
				if err != nil {
					return err
				}
				r, err := head.Score(p.Rejected)
				if err != nil {
					return err
				}
				chosen, rejected = append(chosen, c), append(rejected, r)
			}
			for _, p := range set.Points {
				s, err := head.Score(p.X)
				if err != nil {
					return err
				}
				if p.Label {
					pos = append(pos, s)
				} else {
					neg = append(neg, s)
				}
			}
			res := evalResult{
				Accuracy: finite(reward.PairAccuracy(chosen, rejected)),
				AUC:      finite(reward.AUC(append(chosen, pos...), append(rejected, neg...))),
				Pairs:    len(chosen), Votes: len(pos) + len(neg),
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				return enc.Encode(res)
			}
			show := func(v *float64) string {
				if v == nil {
					return "n/a"
				}
				return fmt.Sprintf("%.3f", *v)
			}
			fmt.Fprintf(a.stdout, "pairs %d  votes %d  pair accuracy %s  AUC %s\n", res.Pairs, res.Votes, show(res.Accuracy), show(res.AUC))
			return nil
		},
	}
	flags.bind(cmd)
	cmd.Flags().StringVar(&rm, "rm", "", "reward head file (from chatloop reward train)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// scoreRow is a line of reward score's output.
type scoreRow struct {
	Line     int      `json:"line"`
	Score    *float64 `json:"score,omitempty"`
	Label    *bool    `json:"label,omitempty"`
	Chosen   *float64 `json:"chosen,omitempty"`
	Rejected *float64 `json:"rejected,omitempty"`
}

func newRewardScoreCommand(a *app) *cobra.Command {
	var flags rewardFlags
	var rm string
	cmd := &cobra.Command{
		Use:   "score --model F --rm RM --data FILE.jsonl",
		Short: "Print the reward of every row of a preference/kto file",
		Long: `Print one JSON line per row of the file, in order: {"line":n,"chosen":x,
"rejected":y} for a preference row, {"line":n,"score":x,"label":b} for a kto
row. A kto file with any label is a way to score arbitrary answers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			head, ds, set, done, err := a.scoreDataFile(cmd, cfg, &flags, rm, false)
			if err != nil {
				return err
			}
			defer done()
			var rows []scoreRow
			for i, p := range set.Pairs {
				c, err := head.Score(p.Chosen)
				if err != nil {
					return err
				}
				r, err := head.Score(p.Rejected)
				if err != nil {
					return err
				}
				rows = append(rows, scoreRow{Line: ds.Pairs[i].Line, Chosen: &c, Rejected: &r})
			}
			for i, p := range set.Points {
				s, err := head.Score(p.X)
				if err != nil {
					return err
				}
				label := p.Label
				rows = append(rows, scoreRow{Line: ds.Points[i].Line, Score: &s, Label: &label})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Line < rows[j].Line })
			enc := json.NewEncoder(a.stdout)
			for _, r := range rows {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
			return nil
		},
	}
	flags.bind(cmd)
	cmd.Flags().StringVar(&rm, "rm", "", "reward head file (from chatloop reward train)")
	return cmd
}
