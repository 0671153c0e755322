package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/adapters/console"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestConformance runs the adapters' common suite against the terminal
// front end, scripted as a pipe is: one line per message, votes and
// regeneration typed as the commands /good, /bad and /regen.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, &conformer{})
}

// conformer types lines into a running Console and reads what it prints.
// The terminal has one user, so every person of the suite is that user,
// and no platform message ids: an answer is shown under its own id.
type conformer struct {
	in    *io.PipeWriter
	out   *screen
	store *feedback.Store

	mu    sync.Mutex
	asked map[string][]int // question line → screen position before each answer
	lines int
}

func (c *conformer) Name() string             { return console.Platform }
func (c *conformer) UserID(string) bot.UserID { return "local" }
func (c *conformer) Fits(string) bool         { return true } // a terminal line has no limit
func (c *conformer) Delete(*testing.T, string) error {
	return fmt.Errorf("a typed line cannot be taken back: %w", adaptertest.ErrUnsupported)
}

func (c *conformer) Start(t *testing.T, h bot.Handler, st *feedback.Store) {
	pr, pw := io.Pipe()
	c.in, c.out, c.store, c.asked = pw, &screen{}, st, map[string][]int{}
	con := console.New(h, pr, c.out, console.Options{User: "local"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- con.Run(ctx) }()
	t.Cleanup(func() {
		pw.Close()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("the console stopped with %v", err)
		}
	})
}

// typeLine types one line; the console reads it once the previous one is
// handled.
func (c *conformer) typeLine(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatalf("typing %q: %v", line, err)
	}
}

func (c *conformer) Ask(t *testing.T, _ string, text string) string {
	c.mu.Lock()
	c.lines++
	q := fmt.Sprint(c.lines)
	c.asked[q] = []int{len(c.out.String())}
	c.mu.Unlock()
	c.typeLine(t, text)
	return q
}

// Answer waits for the n-th answer to question q: the first complete line
// the console printed after the question (or the regeneration) was typed.
// Its id is the answer's own, found by its text among the stored answers,
// since the terminal has no message ids of its own.
func (c *conformer) Answer(t *testing.T, q string, n int) []adaptertest.Sent {
	t.Helper()
	c.mu.Lock()
	marks := c.asked[q]
	c.mu.Unlock()
	if n >= len(marks) {
		t.Fatalf("answer %d to %s was never asked for", n, q)
	}
	var line string
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := c.out.String()[marks[n]:]
		if i := strings.IndexByte(out, '\n'); i >= 0 {
			line = out[:i]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console printed no answer %d to %s: %q", n, q, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for id, row := range adaptertest.Rows(t, c.store) {
			if row.Text == line && row.Finished {
				return []adaptertest.Sent{{ID: string(id), Text: line}}
			}
		}
	}
	t.Fatalf("the printed line %q is no stored answer", line)
	return nil
}

func (c *conformer) Vote(t *testing.T, _ string, _ string, _ adaptertest.Sent, value int) error {
	switch value {
	case 1:
		c.typeLine(t, "/good")
	case -1:
		c.typeLine(t, "/bad")
	default:
		return fmt.Errorf("taking a vote back: the terminal's /good and /bad only replace it: %w", adaptertest.ErrUnsupported)
	}
	return nil
}

func (c *conformer) Regen(t *testing.T, _ string, q string, _ adaptertest.Sent) error {
	c.mu.Lock()
	c.asked[q] = append(c.asked[q], len(c.out.String()))
	c.mu.Unlock()
	c.typeLine(t, "/regen")
	return nil
}
