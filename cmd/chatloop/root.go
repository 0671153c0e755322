package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/internal/redact"
)

// app holds what every command shares: flags, streams, the logger and the
// configuration, loaded once on first use.
type app struct {
	configPath string
	logLevel   string
	logFormat  string

	stdin          io.Reader
	stdout, stderr io.Writer

	log     *slog.Logger
	secrets redact.Secrets // masked in every log line (see collectSecrets)
	logOut  swapWriter     // where log lines go: stderr, or above the terminal chat's prompt
	cfg     *Config
	// observer hears of the core's refusals (the metrics of "run").
	observer bot.Observer
	// tools are the tools the core offers the model (startTools).
	tools bot.ToolOptions
}

// exitError carries an exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(stderr, "chatloop:", err)
		return 1
	}
	return 0
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "chatloop",
		Short: "A local language model in your WeChat groups and Discord servers, learning from their votes",
		Long: `chatloop runs a local language model (GGUF, in process) as a chat bot for
` + strings.Join(platforms.Titles(), ", ") + ` and the terminal, and records every answer and every
thumbs-up and thumbs-down in a local database, ready to train reward models.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNumericFlags(cmd); err != nil {
				return err
			}
			return a.setupLogger()
		},
	}
	root.Version = versionText()
	root.SetVersionTemplate("{{.Version}}")
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "chatloop.toml", "configuration file (TOML); a missing default file means built-in defaults")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")

	for _, add := range commands {
		root.AddCommand(add(a))
	}
	return root
}

// commands lists the constructors of the top-level subcommands. Each file
// of this package that defines a command group adds itself in an init.
var commands []func(*app) *cobra.Command

func (a *app) setupLogger() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	a.logOut.set(a.stderr)
	switch strings.ToLower(a.logFormat) {
	case "text":
		a.log = slog.New(redact.NewHandler(slog.NewTextHandler(&a.logOut, opts), &a.secrets))
	case "json":
		a.log = slog.New(redact.NewHandler(slog.NewJSONHandler(&a.logOut, opts), &a.secrets))
	default:
		return fmt.Errorf("--log-format %q: want text or json", a.logFormat)
	}
	return nil
}

// logger returns the app's logger, making a default one if no command set
// it up (tests calling helpers directly).
func (a *app) logger() *slog.Logger {
	if a.log == nil {
		a.log = slog.New(redact.NewHandler(slog.NewTextHandler(os.Stderr, nil), &a.secrets))
	}
	return a.log
}
