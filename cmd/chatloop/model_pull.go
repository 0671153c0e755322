package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/chatloop/chatloop/model/hub"
)

func init() {
	modelCommands = append(modelCommands, newModelPullCommand, newModelListCommand, newModelRmCommand)
}

func newModelPullCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "pull [MODEL]",
		Short: "Download a model into the cache (resumable, checksum-verified)",
		Long: `Download a GGUF model into the model cache. MODEL is a catalogue name
(see "chatloop model list --all"; default: [model] name), hf://OWNER/REPO/FILE.gguf
or an https:// URL of a .gguf file.

Downloads resume where they stopped, and a file from Hugging Face is
checked against the SHA-256 Hugging Face publishes before it is used.
HF_ENDPOINT selects a mirror (for example https://hf-mirror.com) and
HF_TOKEN is sent for gated repositories. HTTPS_PROXY is honoured.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			ref := cfg.Model.Name
			if len(args) == 1 {
				ref = args[0]
			}
			if ref == "" {
				ref = hub.DefaultModel
			}
			src, err := hub.ParseSource(ref)
			if err != nil {
				return err
			}
			cache, err := modelCache(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p := a.puller(10 * time.Second)
			m, err := p.Pull(ctx, src, cache)
			if errors.Is(err, hub.ErrUnreachable) {
				// As chat says it: where to fetch the file by hand, and
				// how to use it.
				return hub.OfflineError(src, cmp.Or(strings.TrimRight(p.Endpoint, "/"), hub.DefaultEndpoint), err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s\nsha256 %s  size %s\n", m.Path, m.SHA256, hub.HumanBytes(m.Size))
			return nil
		},
	}
}

func newModelListCommand(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the cached models with their size and checksum",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			cache, err := modelCache(cfg)
			if err != nil {
				return err
			}
			cached, err := cache.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			if all {
				have := map[string]hub.CachedModel{}
				for _, m := range cached {
					have[m.Source] = m // the catalogue's file only when pulled from its repository
				}
				fmt.Fprintln(tw, "NAME\tQUANT\tSIZE\tCACHED\tSOURCE")
				for _, e := range hub.Catalogue() {
					state, size := "no", "~"+hub.HumanBytes(e.ApproxSize)
					if m, ok := have["hf://"+e.Repo+"/"+e.File]; ok {
						state, size = "yes", hub.HumanBytes(m.Size)
					}
					name := e.Name
					if e.Name == hub.DefaultModel {
						name += " (default)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\thf://%s/%s\n", name, e.Quant, size, state, e.Repo, e.File)
				}
				return tw.Flush()
			}
			if len(cached) == 0 {
				fmt.Fprintf(a.stderr, "no models in %s; \"chatloop model pull\" downloads the default, \"chatloop model list --all\" shows the catalogue\n", cache.Dir)
				return nil
			}
			fmt.Fprintln(tw, "NAME\tFILE\tSIZE\tSHA256\tSOURCE")
			for _, m := range cached {
				name, sum, src := m.Name, m.SHA256, m.Source
				if name == "" {
					name = "-"
				}
				if sum == "" {
					sum = "(none recorded)"
				}
				if src == "" {
					src = "(unknown: put there by hand)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, m.File, hub.HumanBytes(m.Size), sum, src)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "cache: %s\n", cache.Dir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "show the whole catalogue of known models, cached or not")
	return cmd
}

func newModelRmCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rm MODEL...",
		Short: "Delete cached models (by catalogue name or file name)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			cache, err := modelCache(cfg)
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				p, err := cache.Remove(ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stdout, "removed %s\n", p)
			}
			return errors.Join(errs...)
		},
	}
}

// modelCache is the configured cache, else the default one.
func modelCache(cfg *Config) (hub.Cache, error) { return hub.CacheAt(cfg.Model.CacheDir) }

// puller is a downloader configured from the environment, showing a
// progress bar on a terminal and log lines otherwise.
func (a *app) puller(connectTimeout time.Duration) *hub.Puller {
	return &hub.Puller{
		HTTP:        hub.NewHTTPClient(connectTimeout),
		Endpoint:    hub.EndpointFromEnv(),
		Token:       hub.TokenFromEnv(),
		Log:         a.logger(),
		NewProgress: a.newProgress,
	}
}

func (a *app) newProgress(file string) hub.Progress {
	if isTerminal(a.stderr) {
		return &barProgress{w: a.stderr, file: file}
	}
	return hub.NewLogProgress(a.logger(), file, 10*time.Second)
}

// barProgress draws a progress bar with size, speed and time left. After
// a resume the bar covers the bytes still to come, so that speed and time
// left are those of this run.
type barProgress struct {
	w         io.Writer
	file      string
	bar       *progressbar.ProgressBar
	done, max int64
	from      int64 // bytes already there when the bar was made
}

func (b *barProgress) Update(done, total int64) {
	if b.bar == nil || total != b.max || done < b.done {
		if b.bar != nil {
			b.bar.Exit()
			fmt.Fprintln(b.w)
		}
		b.max, b.from = total, done
		desc, rest := b.file, int64(-1)
		if total >= 0 {
			rest = total - done
		}
		if done > 0 {
			desc += fmt.Sprintf(" (resumed, %s already here)", hub.HumanBytes(done))
		}
		b.bar = progressbar.NewOptions64(rest,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
		)
	}
	b.done = done
	b.bar.Set64(done - b.from)
}

func (b *barProgress) Finish() {
	if b.bar == nil {
		return
	}
	if b.max >= 0 && b.done == b.max {
		b.bar.Finish()
	} else {
		b.bar.Exit()
	}
	fmt.Fprintln(b.w)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// resolveModelPath returns the GGUF file the local backend loads (see
// hub.Resolver): the configured path, else the configured catalogue model
// from the cache, pulled on first use, asking first on a terminal unless
// --yes.
func (a *app) resolveModelPath(cmd *cobra.Command, cfg *Config) (string, error) {
	cache, err := modelCache(cfg)
	if err != nil {
		return "", err
	}
	r := &hub.Resolver{Cache: cache, Puller: a.puller(5 * time.Second), Log: a.logger()}
	if !flagBool(cmd, "yes") && isTerminal(a.stdin) && isTerminal(a.stderr) {
		r.Confirm = a.confirmDownload
	}
	ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return r.Resolve(ctx, cfg.Model.Path, cfg.Model.Name)
}

// confirmDownload asks on the terminal whether to download d.
func (a *app) confirmDownload(d hub.Download) bool {
	fmt.Fprintf(a.stderr, "The model %s is not downloaded yet.\nDownload %s (%s) from %s into %s? [Y/n] ", d.Source, d.Source.FileName(), d.Size, d.Host, d.Dir)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "", "y", "yes":
		return true
	}
	return false
}

// cmdContext is the command's context, or a background one for a command
// that was not run through Execute.
func cmdContext(cmd *cobra.Command) context.Context {
	if cmd != nil && cmd.Context() != nil {
		return cmd.Context()
	}
	return context.Background()
}

// flagBool reads a bool flag the command may not define.
func flagBool(cmd *cobra.Command, name string) bool {
	if cmd == nil || cmd.Flags().Lookup(name) == nil {
		return false
	}
	v, err := cmd.Flags().GetBool(name)
	return err == nil && v
}
