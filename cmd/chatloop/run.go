package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback/socket"
	"github.com/chatloop/chatloop/metrics"
	"github.com/chatloop/chatloop/web"
)

func init() {
	commands = append(commands, newRunCommand)
}

func newRunCommand(a *app) *cobra.Command {
	var flags commonFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the bot on every platform enabled in the configuration",
		Long: `Start every adapter enabled in the configuration (` + sectionList() + `)
with one shared conversation core, model and feedback database,
until SIGINT or SIGTERM; then shut them all down cleanly.

While it runs it holds the feedback database and answers "chatloop
feedback stats|export|backup" over a local socket only this user can open.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			if err := flags.apply(cfg); err != nil {
				return err
			}
			return a.run(cmd, cfg)
		},
	}
	flags.bind(cmd)
	return cmd
}

func (a *app) run(cmd *cobra.Command, cfg *Config) error {
	log := a.logger()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The adapters come first: a missing secret or no adapter at all is
	// said at once, before a model is loaded (or offered for download)
	// and before the database is created. They take the core's handler
	// through a forwarder, set below before any of them runs.
	var handler forwardHandler
	met := metrics.New()
	board := web.NewAdapters(nil)
	watch := adapterWatch{board: board, met: met, secrets: &a.secrets}
	adapters, err := a.enabledAdapters(cfg, &handler, watch)
	if err != nil {
		return err
	}

	be, err := a.openBackend(cmd, cfg)
	if err != nil {
		return err
	}
	defer be.close()
	store, err := a.openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	stopTools, err := a.startTools(ctx, cfg)
	if err != nil {
		return err
	}
	defer stopTools()

	// Metrics watch the model, the store and the messages from outside.
	be.gen = met.Generator(be.gen)
	a.observer = met
	if a.tools.Box != nil {
		a.tools.Box = met.Tools(a.tools.Box)
	}
	core, err := a.newCore(cfg, cfg.Bot, be, met.Store(store))
	if err != nil {
		return err
	}
	met.QueueDepth(core.Queued)
	handler.Handler = met.Handler(core)
	for name := range adapters {
		p, _ := platforms.Lookup(name)
		board.Add(name, p.LoginQR(cfg.Platforms[name]))
	}
	var dashboard http.Handler
	if cfg.Web.Listen != "" {
		if dashboard, err = a.newDashboard(cfg, store, dashboardParts{metrics: met, adapters: board}); err != nil {
			return err
		}
	}

	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("stopped with an error; the others go on", "part", name, "err", err)
			}
		}()
	}
	coreCtx, stopCore := context.WithCancel(context.Background())
	coreDone := make(chan struct{})
	go func() {
		defer close(coreDone)
		_ = core.Run(coreCtx)
	}()
	// Without its socket, feedback commands would open the database
	// beside run or talk to whoever made the path: refuse to start.
	sock, err := socket.Listen(socketPath(cfg))
	if err != nil {
		stopCore()
		<-coreDone
		return fmt.Errorf("the feedback socket: %w (set [feedback] socket to a path in a directory only you can write)", err)
	}
	run("feedback socket", func(ctx context.Context) error {
		return sock.Serve(ctx, store, log)
	})
	if dashboard != nil {
		run("dashboard", func(ctx context.Context) error { return a.serveDashboard(ctx, cfg, dashboard) })
	}
	sup := newSupervisor(log, len(adapters))
	for name, ad := range adapters {
		log.Info("starting adapter", "adapter", name)
		wg.Go(func() {
			sup.run(ctx, name, func(ctx context.Context) error {
				board.Started(name)
				met.AdapterUp(name, false) // up once it says it is connected
				err := ad.Run(ctx)
				if errors.Is(err, context.Canceled) {
					err = nil
				}
				board.Stopped(name, err)
				met.AdapterUp(name, false)
				if err != nil {
					met.Error(metrics.KindAdapter)
				}
				return err
			})
		})
	}
	var failed error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-sup.allDown:
		// Nothing is left to answer anyone: stop, and say so with the
		// exit code, for a service manager to notice.
		failed = sup.err()
		stop()
	}
	wg.Wait()
	stopCore()
	<-coreDone
	return failed
}

// enabledAdapters builds every adapter the configuration enables, by
// platform name.
func (a *app) enabledAdapters(cfg *Config, h bot.Handler, watch adapterWatch) (map[string]platform.Runner, error) {
	base := platform.Env{Log: a.logger(), Prefix: cfg.Bot.Prefix, StateBase: cfg.Feedback.DB, Redact: a.secrets.Add}
	out := map[string]platform.Runner{}
	for _, p := range platforms {
		pc := cfg.Platforms[p.Name()]
		if !p.Enabled(pc) {
			continue
		}
		r, err := p.Start(pc, h, watch.env(base, p.Name()))
		if err != nil {
			return nil, err
		}
		out[p.Name()] = r
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no adapter is enabled: set enabled = true in %s of the configuration (chatloop init writes one), or use \"chatloop chat\" for the terminal", sectionList())
	}
	return out, nil
}

// sectionList names the platforms' sections for messages: "[discord],
// [wechat] or [wecom]".
func sectionList() string {
	names := platforms.Names()
	for i, n := range names {
		names[i] = "[" + n + "]"
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// socketPath is where a running chatloop answers feedback commands.
func socketPath(cfg *Config) string {
	if cfg.Feedback.Socket != "" {
		return cfg.Feedback.Socket
	}
	return cfg.Feedback.DB + ".sock"
}
