package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/chatloop/chatloop/adapters/console"
	"github.com/chatloop/chatloop/feedback/socket"
)

func init() {
	commands = append(commands, newChatCommand)
}

// commonFlags binds the flags that override the configuration on every
// command that runs the bot.
type commonFlags struct {
	model, db, backend string
	yes, noRepack      bool
	lora               loraFlags
}

func (f *commonFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "GGUF model file (default: [model] path, else the default model, pulled on first use)")
	fl.StringVar(&f.db, "db", "", "feedback database file (default: [feedback] db)")
	fl.StringVar(&f.backend, "backend", "", "model backend: local, openai or demo (default: [model] backend)")
	fl.BoolVar(&f.yes, "yes", false, "download the default model without asking")
	bindNoRepack(cmd, &f.noRepack)
	f.lora.bind(fl)
}

// apply copies the flags that were given over the configuration.
func (f *commonFlags) apply(cfg *Config) error {
	if f.model != "" {
		cfg.Model.Path = f.model
	}
	if f.db != "" {
		cfg.Feedback.DB = f.db
	}
	if f.backend != "" {
		cfg.Model.Backend = f.backend
	}
	applyNoRepack(cfg, f.noRepack)
	return f.lora.apply(&cfg.Model)
}

func newChatCommand(a *app) *cobra.Command {
	var flags commonFlags
	var once string
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Chat with the model in the terminal",
		Long: `Chat with the model in the terminal, with answers streamed as they come
and the same commands as in group chats (/help, /reset, /regen, /good, /bad,
/persona). Every answer and vote is recorded in the feedback database.

When standard input is not a terminal, each line is one message and chat
exits at the end of input, so it can be scripted:

  printf 'hello\n/good\n' | chatloop chat --model model.gguf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config(cmd)
			if err != nil {
				return err
			}
			if err := flags.apply(cfg); err != nil {
				return err
			}
			return a.chat(cmd, cfg, once)
		},
	}
	flags.bind(cmd)
	cmd.Flags().StringVar(&once, "once", "", "answer this one question, print the answer and exit")
	return cmd
}

func (a *app) chat(cmd *cobra.Command, cfg *Config, once string) error {
	if cfg.Model.Backend == "demo" {
		fmt.Fprintln(a.stderr, "chatloop: DEMO backend: no model is loaded; answers are labelled echoes of your message.")
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
	stopTools, err := a.startTools(cmdContext(cmd), cfg)
	if err != nil {
		return err
	}
	defer stopTools()

	const user = "local"
	botCfg := cfg.Bot
	botCfg.Admins = append(botCfg.Admins, console.Platform+":"+user) // the terminal's user owns the bot
	botCfg.RatePerMinute = 0                                         // and is not rate limited
	core, err := a.newCore(cfg, botCfg, be, store)
	if err != nil {
		return err
	}
	// At a terminal, Ctrl-C stops an answer, not the program (see
	// runTerminal).
	terminal := once == "" && a.interactive()
	quit := []os.Signal{syscall.SIGTERM}
	if !terminal {
		quit = append(quit, os.Interrupt)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), quit...)
	defer stop()
	coreCtx, stopCore := context.WithCancel(ctx)
	coreDone := make(chan struct{})
	go func() {
		defer close(coreDone)
		_ = core.Run(coreCtx)
	}()
	defer func() {
		stopCore()
		<-coreDone
	}()

	// Feedback commands reach the database over the socket while we hold it.
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := socket.Serve(coreCtx, store, socketPath(cfg), a.logger()); err != nil {
			a.logger().Warn("feedback socket", "err", err)
		}
	}()
	defer func() { stopCore(); <-serveDone }()

	con := console.New(core, a.stdin, a.stdout, console.Options{User: user, Interactive: a.interactive()})
	if once != "" {
		return withSettingHint(con.Ask(ctx, once))
	}
	if terminal {
		return a.runTerminal(ctx, con)
	}
	if err := con.Run(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// interactive reports whether a person is typing at a terminal.
func (a *app) interactive() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
