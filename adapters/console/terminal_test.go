package console_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/chatloop/chatloop/adapters/console"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/bot/demo"
)

// screen collects what the program writes to a pseudo-terminal.
type screen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *screen) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(b)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want after position from, and
// returns the position just after it.
func (s *screen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out := s.String(); len(out) >= from {
			if i := strings.Index(out[from:], want); i >= 0 {
				return from + i + len(want)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the terminal never showed %q after position %d; it shows:\n%q", want, from, s.String()[from:])
	return 0
}

func startCore(t *testing.T, gen bot.Generator) *bot.Core {
	t.Helper()
	cfg := bot.DefaultConfig()
	cfg.RatePerMinute = 0
	c, err := bot.NewCore(bot.Options{Config: cfg, Generator: gen, MaxTokens: 10000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// TestTerminal drives the terminal front end through a real
// pseudo-terminal: an interrupt during an answer stops the answer and the
// chat goes on; a log line at the prompt is printed above the prompt,
// which is drawn again with what was typed; the up arrow brings back the
// last line; Ctrl-D at the prompt ends the chat.
func TestTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	scr := &screen{}
	go func() { _, _ = io.Copy(scr, ptmx) }()

	// A slow answer: one word every 20 ms, hundreds of words.
	core := startCore(t, &demo.Generator{Delay: 20 * time.Millisecond})
	con := console.New(core, tty, tty, console.Options{Interactive: true})
	interrupts := make(chan os.Signal, 1)
	history := filepath.Join(t.TempDir(), "state", "history")
	ended := make(chan error, 1)
	go func() {
		ended <- con.RunTerminal(context.Background(), tty, console.TerminalOptions{HistoryFile: history, Interrupts: interrupts})
	}()
	typeIn := func(s string) {
		t.Helper()
		if _, err := ptmx.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	pos := scr.waitFor(t, 0, console.Prompt)
	long := "hello " + strings.Repeat("word ", 300)
	typeIn(long + "\r")
	pos = scr.waitFor(t, pos, "You said: hello word")
	answerAt := pos
	interrupts <- os.Interrupt // Ctrl-C while the answer is written
	pos = scr.waitFor(t, pos, "[answer stopped]")
	if n := strings.Count(scr.String()[answerAt:pos], "word"); n >= 299 {
		t.Fatalf("the whole answer (%d words) was written despite the interrupt", n)
	}
	pos = scr.waitFor(t, pos, console.Prompt)

	typeIn("par")
	pos = scr.waitFor(t, pos, "par")
	if _, err := con.Logs(io.Discard).Write([]byte("level=WARN msg=\"a log line\"\n")); err != nil {
		t.Fatal(err)
	}
	pos = scr.waitFor(t, pos, "msg=\"a log line\"")
	pos = scr.waitFor(t, pos, console.Prompt+"par") // drawn again below the log line

	typeIn("\x15")     // Ctrl-U clears the line
	typeIn("\x1b[A\r") // up arrow: the last line again
	pos = scr.waitFor(t, pos, "You said: hello word")
	interrupts <- os.Interrupt
	pos = scr.waitFor(t, pos, "[answer stopped]")
	scr.waitFor(t, pos, console.Prompt)

	typeIn("\x04") // Ctrl-D
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("RunTerminal: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-D did not end the chat")
	}
	if b, err := os.ReadFile(history); err != nil || !strings.Contains(string(b), "hello word") {
		t.Errorf("history file: %q, %v", b, err)
	}
}

// TestTerminalCtrlCAtPrompt: Ctrl-C at the prompt ends the chat.
func TestTerminalCtrlCAtPrompt(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	scr := &screen{}
	go func() { _, _ = io.Copy(scr, ptmx) }()
	con := console.New(startCore(t, demo.New()), tty, tty, console.Options{Interactive: true})
	ended := make(chan error, 1)
	go func() { ended <- con.RunTerminal(context.Background(), tty, console.TerminalOptions{}) }()
	scr.waitFor(t, 0, console.Prompt)
	if _, err := ptmx.Write([]byte("abc\x03")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("RunTerminal: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C at the prompt did not end the chat")
	}
}
