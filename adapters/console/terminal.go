package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/chzyer/readline"
	"golang.org/x/term"
)

// Terminal options: the interactive front end on a real terminal.
type TerminalOptions struct {
	// HistoryFile keeps the lines typed, for the arrow keys, across runs;
	// empty keeps them for this run only.
	HistoryFile string
	// Interrupts delivers the process's Ctrl-C (SIGINT). While an answer
	// is being written the terminal is in its normal mode, where Ctrl-C
	// is a signal: it stops that answer. At the prompt Ctrl-C is a key
	// press, read by the line editor, and ends the chat, as Ctrl-D does.
	Interrupts <-chan os.Signal
}

// Prompt is what the terminal shows when it waits for a line.
const Prompt = "you> "

// RunTerminal chats with a person at the terminal in, which must be one,
// with line editing and history (github.com/chzyer/readline). Ctrl-C
// during an answer stops the answer; Ctrl-C or Ctrl-D at the prompt ends
// the chat, returning nil. Logs written to Logs meanwhile are printed
// above the prompt and the line being typed, which is then drawn again.
func (c *Console) RunTerminal(ctx context.Context, in *os.File, opts TerminalOptions) error {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return errors.New("console: standard input is not a terminal")
	}
	if opts.HistoryFile != "" {
		if err := os.MkdirAll(filepath.Dir(opts.HistoryFile), 0o700); err != nil {
			return fmt.Errorf("console: history file: %w", err)
		}
	}
	var saved *term.State
	var rawMu sync.Mutex
	rl, err := readline.NewEx(&readline.Config{
		Prompt:          Prompt,
		HistoryFile:     opts.HistoryFile,
		InterruptPrompt: "^C",
		EOFPrompt:       "\n",
		Stdin:           readline.NewCancelableStdin(in),
		Stdout:          c.out,
		Stderr:          c.out,
		FuncIsTerminal:  func() bool { return true },
		FuncGetWidth: func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return 80
		},
		FuncMakeRaw: func() error {
			rawMu.Lock()
			defer rawMu.Unlock()
			st, err := term.MakeRaw(fd)
			if err == nil {
				saved = st
			}
			return err
		},
		FuncExitRaw: func() error {
			rawMu.Lock()
			defer rawMu.Unlock()
			if saved == nil {
				return nil
			}
			st := saved
			saved = nil
			return term.Restore(fd, st)
		},
	})
	if err != nil {
		return fmt.Errorf("console: line editor: %w", err)
	}
	defer rl.Close()
	c.setLogs(rl.Stderr())
	defer c.setLogs(nil)

	c.printf("chatloop: type a message and press Enter; /help lists commands. Ctrl-C stops an answer; Ctrl-C or Ctrl-D at the prompt quits.\n")
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		line, err := rl.Readline()
		switch {
		case errors.Is(err, readline.ErrInterrupt), errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("console: reading the terminal: %w", err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		switch err := c.askStoppable(ctx, line, opts.Interrupts); {
		case errors.Is(err, errInterrupted):
			return nil // a signal with no answer running
		case err != nil:
			return nil // ctx is done
		}
		c.printf("\n")
	}
}

var errInterrupted = errors.New("interrupted")

// askStoppable is Ask, where an interrupt stops the answer (the core
// withdraws the message) instead of the program. An interrupt that comes
// after the answer is complete returns errInterrupted.
func (c *Console) askStoppable(ctx context.Context, text string, interrupts <-chan os.Signal) error {
	id, r := c.hand(ctx, text)
	stopped := false
	for {
		select {
		case <-r.done:
			if stopped {
				c.printf("[answer stopped]\n")
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-interrupts:
			if stopped {
				continue
			}
			stopped = true
			c.h.Withdraw(Platform, ChatID, id)
		}
	}
}

// Logs returns a writer for log lines: while the terminal waits at the
// prompt they are printed above it and the prompt is drawn again; else
// they go to fallback.
func (c *Console) Logs(fallback io.Writer) io.Writer {
	return &logWriter{c: c, fallback: fallback}
}

func (c *Console) setLogs(w io.Writer) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	c.logs = w
}

type logWriter struct {
	c        *Console
	fallback io.Writer
}

func (l *logWriter) Write(b []byte) (int, error) {
	l.c.logMu.Lock()
	w := l.c.logs
	l.c.logMu.Unlock()
	if w == nil {
		return l.fallback.Write(b)
	}
	// The terminal is raw at the prompt: a bare newline does not return
	// the carriage.
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if _, err := w.Write([]byte(strings.ReplaceAll(string(b), "\n", "\r\n"))); err != nil {
		return 0, err
	}
	return len(b), nil
}
