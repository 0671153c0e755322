package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"

	"github.com/chatloop/chatloop/adapters/console"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/remote"
)

// runTerminal runs the interactive chat on the terminal: line editing and
// history, Ctrl-C stopping an answer, and log lines printed above the
// prompt instead of over it.
func (a *app) runTerminal(ctx context.Context, con *console.Console) error {
	in, _ := a.stdin.(*os.File) // a.interactive() said it is a terminal
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	defer signal.Stop(interrupts)
	prev := a.logOut.set(con.Logs(a.stderr))
	defer a.logOut.set(prev)
	return con.RunTerminal(ctx, in, console.TerminalOptions{HistoryFile: chatHistoryFile(), Interrupts: interrupts})
}

// chatHistoryFile is where the terminal chat keeps the lines typed:
// $XDG_STATE_HOME/chatloop/chat_history, else
// ~/.local/state/chatloop/chat_history; "" (this run only) when neither
// is known.
func chatHistoryFile() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "chatloop", "chat_history")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "state", "chatloop", "chat_history")
}

// swapWriter is an io.Writer whose destination can change while loggers
// hold it.
type swapWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// set makes w the destination and returns the previous one.
func (s *swapWriter) set(w io.Writer) io.Writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.w
	s.w = w
	return prev
}

func (s *swapWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	if w == nil {
		return os.Stderr.Write(b)
	}
	return w.Write(b)
}

// withSettingHint adds to an error of `chat --once` the configuration key
// to fix, where the error alone does not say it.
func withSettingHint(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, remote.ErrUnauthorized):
		return fmt.Errorf("%w (key model.api_key_env names the variable that holds the API key)", err)
	case errors.Is(err, remote.ErrModelNotFound):
		return fmt.Errorf("%w (check keys model.remote_model and model.base_url)", err)
	case errors.Is(err, model.ErrContextFull):
		return fmt.Errorf("%w (raise key model.context, or lower model.max_tokens)", err)
	}
	return err
}
