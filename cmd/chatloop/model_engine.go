package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/model"
)

func init() {
	modelCommands = append(modelCommands, newModelInfoCommand, newModelTokenizeCommand, newModelGenerateCommand, newModelBenchCommand)
}

// engineFlags are the flags every engine subcommand shares.
type engineFlags struct {
	model    string
	threads  int
	context  int
	noRepack bool
	lora     loraFlags
}

func (f *engineFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "GGUF model file or catalogue name (default: [model] path, else [model] name, pulled on first use)")
	fl.IntVar(&f.threads, "threads", -1, "threads (default: [model] threads; 0: one per core)")
	fl.IntVar(&f.context, "context", 0, "context window in tokens (default: [model] context, else the model's own, at most 4096)")
	bindNoRepack(cmd, &f.noRepack)
	f.lora.bind(fl)
	fl.Bool("yes", false, "download the model without asking, when it is not cached yet")
}

// load opens the model the flags and configuration name, with a context
// window of at least minContext tokens.
func (a *app) load(cmd *cobra.Command, f *engineFlags, minContext int) (*model.Engine, *Config, error) {
	cfg, err := a.config(cmd)
	if err != nil {
		return nil, nil, err
	}
	if f.model != "" {
		cfg.Model.Path = f.model
	}
	if f.threads >= 0 {
		cfg.Model.Threads = f.threads
	}
	if f.context > 0 {
		cfg.Model.Context = f.context
	}
	if minContext > 0 && cfg.Model.Context < minContext {
		cfg.Model.Context = minContext
	}
	if err := f.lora.apply(&cfg.Model); err != nil {
		return nil, nil, err
	}
	applyNoRepack(cfg, f.noRepack)
	e, err := a.loadEngine(cmd, cfg)
	if err != nil {
		return nil, nil, err
	}
	return e, cfg, nil
}

func newModelInfoCommand(a *app) *cobra.Command {
	var f engineFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show a GGUF model's architecture, size, tensor types, context length, template and vocabulary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, _, err := a.load(cmd, &f, 0)
			if err != nil {
				return err
			}
			defer e.Close()
			info := e.Info()
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			types := make([]string, 0, len(info.TensorTypes))
			for t, n := range info.TensorTypes {
				types = append(types, fmt.Sprintf("%s ×%d", t, n))
			}
			sort.Strings(types)
			name := info.Name
			if name == "" {
				name = filepath.Base(f.model)
			}
			w := a.stdout
			fmt.Fprintf(w, "name:           %s\n", name)
			fmt.Fprintf(w, "architecture:   %s\n", info.Arch)
			fmt.Fprintf(w, "parameters:     %d (%s)\n", info.Params, humanCount(info.Params))
			fmt.Fprintf(w, "quantization:   %s\n", info.Quantization)
			fmt.Fprintf(w, "tensor types:   %s\n", strings.Join(types, ", "))
			fmt.Fprintf(w, "layers:         %d (hidden %d, heads %d, kv heads %d, ffn %d)\n", info.Layers, info.Hidden, info.Heads, info.KVHeads, info.FFN)
			fmt.Fprintf(w, "context length: %d (engine window %d)\n", info.ContextLength, e.ContextSize())
			fmt.Fprintf(w, "template:       %s\n", info.Template)
			fmt.Fprintf(w, "vocabulary:     %d tokens\n", info.VocabSize)
			if info.RepackedMatrices > 0 {
				fmt.Fprintf(w, "repacked:       %d matrices, %.1f MiB, in this CPU's packed layouts\n", info.RepackedMatrices, float64(info.RepackedBytes)/(1<<20))
			} else {
				fmt.Fprintf(w, "repacked:       none (file layout)\n")
			}
			fmt.Fprintf(w, "kernels:        %s\n", info.Kernels)
			printAdapters(w, info.Adapters)
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

func newModelTokenizeCommand(a *app) *cobra.Command {
	var f engineFlags
	var text string
	var detok bool
	cmd := &cobra.Command{
		Use:   "tokenize",
		Short: "Print the token ids of a text as a JSON array (or, with --detokenize, the text of ids)",
		Long: `Print the token ids of --text (without --text, all of standard input, byte
for byte) as a JSON array. Special tokens written in the text are
recognised; BOS is added only when the model's metadata asks for it.

With --detokenize, read a JSON array of ids (from --text or standard input)
and print their text.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("text") {
				b, err := io.ReadAll(a.stdin)
				if err != nil {
					return fmt.Errorf("reading standard input: %w", err)
				}
				text = string(b)
			}
			var ids []int32
			if detok {
				if err := json.Unmarshal([]byte(text), &ids); err != nil {
					return fmt.Errorf("--detokenize wants a JSON array of token ids: %w", err)
				}
			}
			f.context = 16    // the cache is not used
			f.noRepack = true // nor are the weights
			e, _, err := a.load(cmd, &f, 0)
			if err != nil {
				return err
			}
			defer e.Close()
			tok := e.Tokenizer()
			if detok {
				for _, id := range ids {
					if id < 0 || int(id) >= tok.VocabSize() {
						return fmt.Errorf("token id %d is outside the vocabulary of %d", id, tok.VocabSize())
					}
				}
				_, err := io.WriteString(a.stdout, tok.Decode(ids))
				return err
			}
			ids = e.Tokenize(text)
			if ids == nil {
				ids = []int32{}
			}
			b, err := json.Marshal(ids)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", b)
			return err
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&text, "text", "", "text to tokenize (default: standard input)")
	cmd.Flags().BoolVar(&detok, "detokenize", false, "read a JSON array of ids and print their text")
	return cmd
}

func newModelGenerateCommand(a *app) *cobra.Command {
	var f engineFlags
	var prompt, system string
	var raw bool
	var maxTokens int
	var s model.SamplingParams
	var stops []string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate text from a prompt, streaming it to standard output",
		Long: `Generate an answer to --prompt (default: standard input) with the model's
chat template, or with --raw a continuation of the prompt as it is. The
text goes to standard output as it is generated; the prompt and generation
speeds go to standard error. Sampling flags default to the [model.sampling]
configuration; --temperature 0 is greedy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("prompt") {
				b, err := io.ReadAll(a.stdin)
				if err != nil {
					return fmt.Errorf("reading standard input: %w", err)
				}
				prompt = string(b)
			}
			e, cfg, err := a.load(cmd, &f, 0)
			if err != nil {
				return err
			}
			defer e.Close()
			fl := cmd.Flags()
			def := cfg.Model.Sampling
			if !fl.Changed("temperature") {
				s.Temperature = def.Temperature
			}
			if !fl.Changed("top-k") {
				s.TopK = def.TopK
			}
			if !fl.Changed("top-p") {
				s.TopP = def.TopP
			}
			if !fl.Changed("min-p") {
				s.MinP = def.MinP
			}
			if !fl.Changed("repeat-penalty") {
				s.RepeatPenalty = def.RepeatPenalty
			}
			if !fl.Changed("seed") {
				s.Seed = def.Seed
			}
			if s.Seed == 0 {
				// A fresh seed each run, as chat draws one per answer;
				// the line below says which, for --seed to repeat it.
				s.Seed = freshSeed()
			}
			if !fl.Changed("max-tokens") {
				maxTokens = cfg.Model.MaxTokens
			}
			req := model.Request{MaxTokens: maxTokens, Sampling: s, Stop: append(append([]string(nil), cfg.Model.Stop...), stops...)}
			if raw {
				req.Raw = prompt
			} else {
				if system != "" {
					req.Messages = append(req.Messages, model.Message{Role: "system", Content: system})
				}
				req.Messages = append(req.Messages, model.Message{Role: "user", Content: prompt})
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var werr error
			res, err := e.Generate(ctx, req, func(piece string) {
				if werr == nil {
					_, werr = io.WriteString(a.stdout, piece)
				}
			})
			if err != nil && ctx.Err() == nil {
				return err
			}
			if werr != nil {
				return werr
			}
			fmt.Fprintln(a.stdout)
			fmt.Fprintf(a.stderr, "prompt: %d tokens in %s (%.1f tokens/s); generation: %d tokens in %s (%.1f tokens/s); stop: %s; seed: %d\n",
				res.PromptTokens, res.PromptDuration.Round(1e6), perSecond(res.PromptTokens-res.CachedTokens, res.PromptDuration.Seconds()),
				res.AnswerTokens, res.GenDuration.Round(1e6), perSecond(res.AnswerTokens, res.GenDuration.Seconds()), res.StopReason, s.Seed)
			return nil
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&prompt, "prompt", "", "the prompt (default: standard input)")
	fl.StringVar(&system, "system", "", "a system message before the prompt (ignored with --raw)")
	fl.BoolVar(&raw, "raw", false, "feed the prompt as it is, without the chat template")
	fl.IntVar(&maxTokens, "max-tokens", 0, "stop after this many tokens (default: [model] max_tokens)")
	fl.Float64Var(&s.Temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	fl.IntVar(&s.TopK, "top-k", 0, "keep the k most likely tokens (0: all)")
	fl.Float64Var(&s.TopP, "top-p", 0, "nucleus sampling threshold (0 or 1: off)")
	fl.Float64Var(&s.MinP, "min-p", 0, "drop tokens less likely than this times the best (0: off)")
	fl.Float64Var(&s.RepeatPenalty, "repeat-penalty", 0, "repetition penalty over the last 64 tokens (1: off)")
	fl.Uint64Var(&s.Seed, "seed", 0, "random seed: the same seed and input give the same text")
	fl.StringArrayVar(&stops, "stop", nil, "stop string (repeatable)")
	return cmd
}

func perSecond(n int, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(n) / secs
}

func newModelBenchCommand(a *app) *cobra.Command {
	var f engineFlags
	var asJSON bool
	var reps, pp, tg, parallel int
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure prompt processing (pp512) and generation (tg128) speed, like llama-bench",
		Long: `Measure prompt processing of 512 tokens and generation of 128 tokens, in
tokens per second, the median of --repetitions runs, as llama-bench's pp512
and tg128 do (random tokens, an empty cache each run). --json prints
{"pp512": tok/s, "tg128": tok/s, "rss_bytes": n, "load_ms": ms,
"repacked_bytes": n, "kernels": path}; load_ms includes repacking the
weights (see --no-repack, and [model] pack_cache), kernels names the matrix
kernels that ran ("avx512-vnni packed", "avx2", "go"...).

With --parallel N, also generate 128 tokens in each of N sequences decoded
together (one pass over the weights per step for all of them, as the
engine serves concurrent chats) and report the aggregate tokens per
second; --json then adds "tg128_parallel": {"n": N, "tok_s": x}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if reps < 1 || pp < 1 || tg < 1 {
				return fmt.Errorf("--repetitions, --pp and --tg must be positive")
			}
			if parallel < 0 {
				return fmt.Errorf("--parallel must not be negative")
			}
			e, _, err := a.load(cmd, &f, pp+tg)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := e.Bench(ctx, model.BenchOptions{Prompt: pp, Gen: tg, Repetitions: reps, Parallel: parallel})
			if err != nil {
				return err
			}
			if asJSON {
				out := map[string]any{
					fmt.Sprintf("pp%d", pp): round2(res.PromptPerSecond),
					fmt.Sprintf("tg%d", tg): round2(res.GenPerSecond),
					"rss_bytes":             res.RSSBytes,
					"load_ms":               round2(float64(e.LoadDuration().Microseconds()) / 1000),
					"repacked_bytes":        e.Info().RepackedBytes,
					"kernels":               e.Info().Kernels,
				}
				if ads := e.Adapters(); len(ads) > 0 {
					out["adapters"] = ads
				}
				if parallel > 0 {
					out[fmt.Sprintf("tg%d_parallel", tg)] = map[string]any{"n": parallel, "tok_s": round2(res.ParallelGenPerSecond)}
				}
				return json.NewEncoder(a.stdout).Encode(out)
			}
			info := e.Info()
			fmt.Fprintf(a.stdout, "model: %s %s, %s, %d threads, load %s, %s repacked, kernels %s\n", info.Arch, humanCount(info.Params), info.Quantization, res.Threads,
				e.LoadDuration().Round(1e6), humanBytes(info.RepackedBytes), info.Kernels)
			fmt.Fprintf(a.stdout, "pp%-4d %10.2f tokens/s  (median of %d)\n", pp, res.PromptPerSecond, reps)
			fmt.Fprintf(a.stdout, "tg%-4d %10.2f tokens/s  (median of %d)\n", tg, res.GenPerSecond, reps)
			if parallel > 0 {
				fmt.Fprintf(a.stdout, "tg%-4d %10.2f tokens/s  in all, %d sequences together (median of %d)\n", tg, res.ParallelGenPerSecond, parallel, reps)
			}
			fmt.Fprintf(a.stdout, "rss    %10.1f MiB\n", float64(res.RSSBytes)/(1<<20))
			printAdapters(a.stdout, e.Adapters())
			return nil
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	fl.IntVar(&reps, "repetitions", 3, "runs of each test; the median is reported")
	fl.IntVar(&pp, "pp", 512, "prompt tokens")
	fl.IntVar(&tg, "tg", 128, "generated tokens")
	fl.IntVar(&parallel, "parallel", 0, "also measure generation of N sequences decoded together (aggregate tokens/s)")
	return cmd
}

func humanBytes(n int64) string {
	if n == 0 {
		return "nothing"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
