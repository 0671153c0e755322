package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
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
			m, err := a.puller(10*time.Second).Pull(ctx, src, cache)
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
					have[m.File] = m
				}
				fmt.Fprintln(tw, "NAME\tQUANT\tSIZE\tCACHED\tSOURCE")
				for _, e := range hub.Catalogue() {
					state, size := "no", "~"+hub.HumanBytes(e.ApproxSize)
					if m, ok := have[e.File]; ok {
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
			fmt.Fprintln(tw, "NAME\tFILE\tSIZE\tSHA256")
			for _, m := range cached {
				name, sum := m.Name, m.SHA256
				if name == "" {
					name = "-"
				}
				if sum == "" {
					sum = "(none recorded)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, m.File, hub.HumanBytes(m.Size), sum)
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
func modelCache(cfg *Config) (hub.Cache, error) {
	if cfg.Model.CacheDir != "" {
		return hub.Cache{Dir: cfg.Model.CacheDir}, nil
	}
	dir, err := hub.DefaultCacheDir()
	return hub.Cache{Dir: dir}, err
}

// hfEndpoint is HF_ENDPOINT, else Hugging Face itself.
func hfEndpoint() string {
	if e := strings.TrimSpace(os.Getenv("HF_ENDPOINT")); e != "" {
		return strings.TrimRight(e, "/")
	}
	return hub.DefaultEndpoint
}

// hfToken is HF_TOKEN, else the token "hf auth login" (huggingface-cli
// login) saved in $HF_HOME/token or ~/.cache/huggingface/token.
func hfToken() string {
	for _, env := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := strings.TrimSpace(os.Getenv(env)); t != "" {
			return t
		}
	}
	home := os.Getenv("HF_HOME")
	if home == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			home = filepath.Join(x, "huggingface")
		} else if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".cache", "huggingface")
		}
	}
	if home == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(home, "token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// puller is a downloader configured from the environment, showing a
// progress bar on a terminal and log lines otherwise.
func (a *app) puller(connectTimeout time.Duration) *hub.Puller {
	return &hub.Puller{
		HTTP:        hub.NewHTTPClient(connectTimeout),
		Endpoint:    hfEndpoint(),
		Token:       hfToken(),
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

// resolveModelPath returns the GGUF file the local backend loads: the
// configured path, else the configured catalogue model from the cache,
// pulled on first use (asking first on a terminal unless --yes). When
// Hugging Face cannot be reached it fails fast, saying which file to get
// and how to pass it.
func (a *app) resolveModelPath(cmd *cobra.Command, cfg *Config) (string, error) {
	ref := cfg.Model.Name
	if p := cfg.Model.Path; p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		// --model qwen3-1.7b or --model hf://…: a reference, not a file.
		if src, err := hub.ParseSource(p); err != nil || (src.Name == "" && !strings.Contains(p, "://")) {
			return p, nil // the engine reports the missing file
		}
		ref = p
	}
	if ref == "" {
		ref = hub.DefaultModel
	}
	src, err := hub.ParseSource(ref)
	if err != nil {
		return "", fmt.Errorf("key model.name: %w", err)
	}
	cache, err := modelCache(cfg)
	if err != nil {
		return "", err
	}
	if m, err := cache.Find(ref); err == nil {
		return m.Path, nil
	}

	ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := a.puller(5 * time.Second)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	rem, err := p.Resolve(rctx, src)
	cancel()
	if err != nil {
		if errors.Is(err, hub.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
			return "", offlineError(src, err)
		}
		return "", fmt.Errorf("model %s is not cached and cannot be downloaded: %w", src, err)
	}
	size := "size unknown"
	if rem.Size >= 0 {
		size = hub.HumanBytes(rem.Size)
	}
	host := hostName(rem.URL)
	if !flagBool(cmd, "yes") && isTerminal(a.stdin) && isTerminal(a.stderr) {
		fmt.Fprintf(a.stderr, "The model %s is not downloaded yet.\nDownload %s (%s) from %s into %s? [Y/n] ", src, src.FileName(), size, host, cache.Dir)
		line, _ := bufio.NewReader(a.stdin).ReadString('\n')
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "", "y", "yes":
		default:
			return "", fmt.Errorf("no model: download declined; run \"chatloop model pull %s\" later, or pass --model FILE.gguf", src)
		}
	} else {
		a.logger().Info("downloading the model on first use", "model", src.String(), "size", size, "from", host, "cache", cache.Dir)
	}
	m, err := p.Download(ctx, rem, cache)
	if err != nil {
		if errors.Is(err, hub.ErrUnreachable) {
			return "", offlineError(src, err)
		}
		return "", err
	}
	a.logger().Info("model ready", "path", m.Path, "sha256", m.SHA256)
	return m.Path, nil
}

func offlineError(src hub.Source, err error) error {
	return fmt.Errorf("the model %s is not cached and the server cannot be reached (%v).\n"+
		"Download %s from\n  %s\non a connected machine (or set HF_ENDPOINT to a mirror such as https://hf-mirror.com),\n"+
		"then run with --model /path/to/%s (or set [model] path in chatloop.toml)",
		src, err, src.FileName(), src.DownloadURL(hfEndpoint()), src.FileName())
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

func hostName(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}
