// Package console is the terminal front end: one local user chatting with
// the bot over an io.Reader and io.Writer, with answers streamed as they
// come. Piped input is read a line per message, so it can be scripted.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/chatloop/chatloop/bot"
)

// Platform is the platform name console messages carry.
const Platform = "console"

// ChatID is the one chat of the terminal.
const ChatID bot.ChatID = "local"

// Options configures a Console.
type Options struct {
	// User is the local user's id (for votes and admin rights).
	User bot.UserID
	// Interactive shows prompts and labels for a person at a terminal.
	Interactive bool
}

// Console reads messages from in and writes the bot's output to out.
type Console struct {
	h    bot.Handler
	in   io.Reader
	out  io.Writer
	opts Options

	mu  sync.Mutex // serialises writes to out
	seq int

	logMu sync.Mutex
	logs  io.Writer // the line editor's writer while the terminal runs
}

// New returns a console front end for h.
func New(h bot.Handler, in io.Reader, out io.Writer, opts Options) *Console {
	if opts.User == "" {
		opts.User = "local"
	}
	return &Console{h: h, in: in, out: out, opts: opts}
}

// Run reads one message per line until end of input or ctx is done,
// waiting for each to be handled before reading the next.
func (c *Console) Run(ctx context.Context) error {
	if c.opts.Interactive {
		c.printf("chatloop: type a message and press Enter; /help lists commands, Ctrl-D quits.\n")
	}
	br := bufio.NewReaderSize(c.in, 64*1024)
	for {
		if c.opts.Interactive {
			c.printf("\nyou> ")
		}
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading input: %w", err)
		}
		if line == "" {
			continue
		}
		if err := c.Ask(ctx, line); err != nil && !errors.Is(err, ErrNoAnswer) {
			return err // the script goes on after a message that got no answer
		}
	}
}

// ErrNoAnswer is returned (wrapped, with the core's reason) by Ask when
// the bot could not answer the message.
var ErrNoAnswer = errors.New("no answer")

// Ask hands one message to the bot and waits until it has been handled.
// It returns ErrNoAnswer, wrapping the reason, when the bot could not
// answer (the generator failed, or the message does not fit the context).
func (c *Console) Ask(ctx context.Context, text string) error {
	_, r := c.hand(ctx, text)
	select {
	case <-r.done:
		if err := r.failure(); err != nil {
			return fmt.Errorf("%w: %w", ErrNoAnswer, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hand gives one message to the bot and returns its id and replier.
func (c *Console) hand(ctx context.Context, text string) (bot.MessageID, *replier) {
	c.mu.Lock()
	c.seq++
	id := bot.MessageID("m" + strconv.Itoa(c.seq))
	c.mu.Unlock()
	r := &replier{c: c, done: make(chan struct{})}
	c.h.HandleMessage(ctx, bot.Message{
		Platform:   Platform,
		ChatID:     ChatID,
		MessageID:  id,
		SenderID:   c.opts.User,
		SenderName: string(c.opts.User),
		Text:       text,
		IsDirect:   true,
	}, r)
	return id, r
}

func (c *Console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// replier prints one message's output.
type replier struct {
	c    *Console
	once sync.Once
	done chan struct{}
	n    int // answers shown

	mu     sync.Mutex
	failed error // why the message got no answer (Fail)
}

func (r *replier) Send(_ context.Context, text string) error {
	var st termState
	text = st.clean(text)
	if r.c.opts.Interactive {
		r.c.printf("bot> %s\n", text)
	} else {
		r.c.printf("%s\n", text)
	}
	return nil
}

func (r *replier) Stream(ctx context.Context, out bot.Outgoing, tokens <-chan string) error {
	r.n++
	switch {
	case r.c.opts.Interactive && out.Label != "":
		r.c.printf("bot [%s]> ", out.Label)
	case r.c.opts.Interactive:
		r.c.printf("bot> ")
	case out.Label != "":
		r.c.printf("[%s] ", out.Label)
	}
	if out.Sent != nil {
		out.Sent(bot.MessageID(string(out.AnswerID)))
	}
	var st termState // model output never drives the terminal
	for {
		select {
		case tok, ok := <-tokens:
			if !ok {
				r.c.printf("\n")
				return nil
			}
			r.c.printf("%s", st.clean(tok))
		case <-ctx.Done():
			r.c.printf("\n")
			return ctx.Err()
		}
	}
}

func (r *replier) Complete() { r.once.Do(func() { close(r.done) }) }

// Status shows what the answer waits on ("🔎 searching: …") on a line of
// its own, at a terminal only: piped output stays the answers alone.
func (r *replier) Status(_ context.Context, text string) error {
	if r.c.opts.Interactive {
		var st termState
		r.c.printf("    %s\n", st.clean(text))
	}
	return nil
}

// Fail records why the message got no answer (bot.Failer).
func (r *replier) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = err
}

func (r *replier) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

var (
	_ bot.Replier   = (*replier)(nil)
	_ bot.Completer = (*replier)(nil)
	_ bot.Failer    = (*replier)(nil)
	_ bot.Statuser  = (*replier)(nil)
)

// UserIDForms says how the terminal's user is written as console:ID.
const UserIDForms = "local, the terminal's one user: console:local"
