package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/reward"
	"github.com/chatloop/chatloop/metrics"
	"github.com/chatloop/chatloop/model/lora"
	"github.com/chatloop/chatloop/web"
)

func init() {
	commands = append(commands, newDashboardCommand)
}

// WebConfig is the [web] section: the dashboard and metrics.
type WebConfig struct {
	// Listen is the dashboard's address; empty turns it off.
	Listen string `toml:"listen"`
	// TokenFile holds the dashboard token when CHATLOOP_WEB_TOKEN is not
	// set.
	TokenFile string `toml:"token_file"`
}

const defaultWebListen = "127.0.0.1:8377"

// webTokenEnv is the environment variable holding the dashboard token.
const webTokenEnv = "CHATLOOP_WEB_TOKEN"

// secretEnv lists CHATLOOP_* variables that are secrets, not
// configuration keys: applyEnv leaves them alone.
var secretEnv = map[string]bool{webTokenEnv: true}

// webToken reads the dashboard token: CHATLOOP_WEB_TOKEN, else the file
// [web] token_file, else "".
func webToken(cfg WebConfig) (string, error) {
	if t := strings.TrimSpace(os.Getenv(webTokenEnv)); t != "" {
		return t, nil
	}
	if cfg.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(cfg.TokenFile)
	if err != nil {
		return "", fmt.Errorf("[web] token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("[web] token_file %s is empty", cfg.TokenFile)
	}
	return t, nil
}

// dashboardParts is what the dashboard shows beyond the store.
type dashboardParts struct {
	metrics  *metrics.Metrics
	adapters *web.Adapters // nil: no adapters run here
}

// newDashboard builds the dashboard's handler for the configuration,
// refusing a reachable address without a token.
func (a *app) newDashboard(cfg *Config, store web.Store, parts dashboardParts) (http.Handler, error) {
	token, err := webToken(cfg.Web)
	if err != nil {
		return nil, err
	}
	if err := web.CheckListen(cfg.Web.Listen, token); err != nil {
		return nil, err
	}
	opts := web.Options{
		Store:   store,
		Token:   token,
		Metrics: parts.metrics.HTTPHandler(),
		Runs:    func() []web.Run { return latestRuns(cfg) },
		Logger:  a.logger().With("part", "dashboard"),
	}
	if parts.adapters != nil {
		opts.Adapters = parts.adapters.States
	}
	return web.New(opts)
}

// serveDashboard serves h on [web] listen until ctx is done.
func (a *app) serveDashboard(ctx context.Context, cfg *Config, h http.Handler) error {
	log := a.logger()
	return web.Serve(ctx, cfg.Web.Listen, h, log, func(addr net.Addr) {
		log.Info("dashboard listening", "url", "http://"+addr.String()+"/")
	})
}

// latestRuns describes the reward head the configuration names.
func latestRuns(cfg *Config) []web.Run {
	var out []web.Run
	if p := cfg.Reward.Path; p != "" {
		run := web.Run{Kind: "reward", Path: p}
		fi, err := os.Stat(p)
		if err == nil && fi.Size() < 64<<20 {
			run.When = fi.ModTime()
			var data []byte
			if data, err = os.ReadFile(p); err == nil {
				var h *reward.Head
				if h, err = reward.Decode(data); err == nil {
					tr := h.Training
					run.Summary = fmt.Sprintf("%d training pairs, %d points; train accuracy %.1f%%, held-out accuracy %.1f%% (AUC %.3f), best epoch %d of %d",
						tr.TrainPairs, tr.TrainPoints, 100*tr.TrainAccuracy, 100*tr.HeldOutAccuracy, tr.HeldOutAUC, tr.BestEpoch, tr.Epochs)
				}
			}
		}
		if err != nil {
			run.Summary = "cannot read it: " + err.Error()
		}
		out = append(out, run)
	}
	// The adapters `chatloop tune` wrote, as the bot serves them.
	seen := map[string]bool{}
	for _, p := range append(append([]string(nil), cfg.Model.Adapters...), cfg.Bot.ABAdapters...) {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, tuneRun(p))
	}
	return out
}

// tuneRun describes a LoRA adapter file for the overview.
func tuneRun(path string) web.Run {
	run := web.Run{Kind: "tune", Path: path}
	fi, err := os.Stat(path)
	if err != nil {
		run.Summary = "cannot read it: " + err.Error()
		return run
	}
	run.When = fi.ModTime()
	a, err := lora.Read(path)
	if err != nil {
		run.Summary = "cannot read it: " + err.Error()
		return run
	}
	rank := 0
	if len(a.Pairs) > 0 {
		rank = a.Pairs[0].Rank
	}
	run.Summary = fmt.Sprintf("LoRA adapter %s for %s: rank %d, alpha %g, %d matrices", a.ShortName(), a.Arch, rank, a.Alpha, len(a.Pairs))
	return run
}

func newDashboardCommand(a *app) *cobra.Command {
	var f feedbackFlags
	var listen string
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the web dashboard, /metrics, /api/stats and /healthz for a feedback database, without the bot",
		Long: `Serve the pages "chatloop run" serves on [web] listen (default
127.0.0.1:8377) for a feedback database, without running the bot: the
overview with approval per model version, the answers, and exports.

An address other machines can reach needs a token, from CHATLOOP_WEB_TOKEN
or [web] token_file; the browser asks for it once.

The database is opened read-only; while "chatloop run" holds it, use the
dashboard that run serves instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Web.Listen = listen
			}
			if cfg.Web.Listen == "" {
				return errors.New("[web] listen is empty: give --listen ADDRESS")
			}
			path, _, err := a.feedbackPaths(cmd, &f)
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no feedback database at %s (give one with --db)", path)
			}
			store, err := feedback.Open(path, feedback.Options{ReadOnly: true, Timeout: time.Second})
			if errors.Is(err, feedback.ErrLocked) {
				return fmt.Errorf("%w\n(the running chatloop serves this dashboard itself on [web] listen)", err)
			}
			if err != nil {
				return err
			}
			defer store.Close()
			h, err := a.newDashboard(cfg, store, dashboardParts{metrics: metrics.New()})
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			a.logger().Info("serving the dashboard", "db", filepath.Clean(path))
			return a.serveDashboard(ctx, cfg, h)
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default: [web] listen)")
	return cmd
}
