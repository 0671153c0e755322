// Package ilink connects chatloop to a personal WeChat account through
// Tencent's official bot API for personal accounts ("iLink", the protocol
// of the ClawBot plugin), as Tencent's MIT-licensed reference client
// @tencent-weixin/openclaw-weixin speaks it: HTTP and JSON, a QR code to
// bind the bot, getupdates long polling, and replies that carry the
// context_token of the message they answer.
//
// The first start shows a QR code to scan with WeChat; the bot token it
// yields is kept in a 0600 file, so later starts need no scan. When the
// server says the session expired (errcode -14) the adapter shows a new
// QR code and carries on from the same long-poll cursor, so messages sent
// meanwhile are answered after the scan.
//
// Votes are messages: a quote-reply of an answer with 👍 [强] 赞 /good
// (👎 [弱] 踩 /bad) votes on it; unquoted, on the sender's latest answer
// within vote_window. "/regen" and "换一个" ask for another answer; "A"
// or "B" choose in A/B mode. iLink offers private chats only.
package ilink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
)

const (
	// maxLoginWait is how long a send waits for a login under way.
	maxLoginWait = 5 * time.Minute
	// maxLongPoll caps the server's longpolling_timeout_ms.
	maxLongPoll = 5 * time.Minute
	// seenIDs and sentIDs bound the remembered message ids.
	seenIDs = 4096
	sentIDs = 4096
)

// ErrNotLoggedIn is returned by sends while no iLink session is up.
var ErrNotLoggedIn = errors.New("wechat ilink: not logged in")

// Adapter connects one WeChat iLink bot to a bot.Handler.
type Adapter struct {
	cfg Config
	h   bot.Handler
	log *slog.Logger
	api api
	// redact is told each bot token as the adapter obtains it (the log
	// redactor; see WithRedactor).
	redact func(...string)
	qrOut  io.Writer
	codeIn lineReader
	// codeLines carries lines typed in, read by one goroutine started
	// at the first need.
	codeOnce  sync.Once
	codeLines chan string
	toks      tokens
	seen      *idSet // incoming message ids, to drop repeats
	sent      *idSet // server ids of the bot's messages, to match quotes
	tickets   *ticketCache

	// Pauses of the reference client (monitor.ts): after a failed poll,
	// after maxFailures failed polls in a row, between QR status polls;
	// and the longest pause between failed logins. Tests shorten them.
	retryDelay, backoffDelay, qrPause, maxLoginBackoff time.Duration
	maxFailures                                        int
	keepTyping                                         time.Duration

	conn platform.Conn // where the connection state is reported

	mu      sync.Mutex
	cur     *live // nil while logged out
	changed chan struct{}
	stopped bool
	quit    chan struct{} // closed when Run ends

	wg sync.WaitGroup // notices and typing indicators
}

// live is a logged-in session.
type live struct {
	acct account
	// ctx ends when a call finds the session expired.
	ctx    context.Context
	cancel context.CancelFunc
}

// ErrQRLoginNeeded is the reason the adapter reports itself down while
// it waits for someone to scan its login QR code.
var ErrQRLoginNeeded = errors.New("waiting for a QR scan to log in")

// Option changes how an Adapter is built.
type Option func(*Adapter)

// WithHTTPClient makes the adapter use c. Its transport should honour
// HTTP_PROXY/HTTPS_PROXY/NO_PROXY; it needs no timeout (every call has one).
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.api.http = c } }

// WithConn makes the adapter report its connection to c: up while
// getupdates answers, down (with the reason) while it fails, while a QR
// login is needed and when WeChat ends the session.
func WithConn(c platform.Conn) Option {
	return func(a *Adapter) {
		if c != nil {
			a.conn = c
		}
	}
}

// WithQROutput sets where the login QR code is printed (default stdout).
func WithQROutput(w io.Writer) Option { return func(a *Adapter) { a.qrOut = w } }

// WithCodeInput sets where the number a login may ask for is read (default
// stdin).
func WithCodeInput(r io.Reader) Option {
	return func(a *Adapter) {
		if r == nil {
			a.codeIn = nil
			return
		}
		a.codeIn = bufio.NewReader(r)
	}
}

// New checks cfg and returns an adapter that hands WeChat messages to h.
// Nothing is contacted before Run.
func New(cfg Config, h bot.Handler, log *slog.Logger, opts ...Option) (*Adapter, error) {
	if h == nil {
		return nil, errors.New("wechat ilink: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{
		redact:          func(...string) {},
		cfg:             cfg,
		h:               h,
		log:             log.With("adapter", Platform, "protocol", "ilink"),
		qrOut:           os.Stdout,
		conn:            platform.NoConn{},
		codeIn:          bufio.NewReader(os.Stdin),
		toks:            newTokens(cfg),
		seen:            newIDSet(seenIDs),
		sent:            newIDSet(sentIDs),
		tickets:         newTicketCache(),
		retryDelay:      2 * time.Second,
		backoffDelay:    30 * time.Second,
		qrPause:         time.Second,
		maxLoginBackoff: 5 * time.Minute,
		maxFailures:     3,
		keepTyping:      5 * time.Second,
		changed:         make(chan struct{}),
		quit:            make(chan struct{}),
	}
	for _, o := range opts {
		o(a)
	}
	if a.api.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		a.api.http = &http.Client{Transport: tr}
	}
	return a, nil
}

// Run logs in (from the state file, else by QR code) and hands WeChat
// messages to the handler until ctx is done. When the session expires it
// logs in again by QR code, for as long as ctx lives. It returns an error
// only when the state file cannot be used: a permanent one
// (platform.ErrPermanent), since restarting cannot mend it.
func (a *Adapter) Run(ctx context.Context) error {
	path := a.cfg.stateFile()
	for _, dir := range []string{filepath.Dir(path), filepath.Dir(a.cfg.qrFile())} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return platform.Permanent(fmt.Errorf("wechat ilink: key ilink_state_file: %w", err))
		}
	}
	st, err := loadState(path)
	if err != nil {
		return platform.Permanent(fmt.Errorf("wechat ilink: %w", err))
	}
	a.redact(st.Account.Token) // sent again in the next QR request too
	defer a.shutdown()
	for ctx.Err() == nil {
		if st.Account.Token == "" || st.Expired {
			if st.Expired {
				a.log.Info("the stored iLink login has expired; a QR login is needed", "file", path)
			} else {
				a.log.Info("no stored iLink login; a QR login is needed", "file", path)
			}
			a.conn.Down(ErrQRLoginNeeded)
			acct, err := a.login(ctx, st.Account)
			if err != nil {
				break // ctx is done
			}
			if acct.BotID != st.Account.BotID {
				st.GetUpdatesBuf = "" // another bot: its cursor starts afresh
			}
			st.Account, st.Expired = acct, false
			if err := saveState(path, st); err != nil {
				a.log.Error("the login works but could not be stored; the next start needs a QR scan again", "err", err)
			}
		} else {
			a.log.Info("logging in with the stored iLink bot token", "file", path, "bot", st.Account.BotID)
		}
		l := a.begin(ctx, st.Account)
		err := a.poll(ctx, l, &st, path)
		a.end(l)
		if ctx.Err() != nil {
			a.notify(l.acct, "notifystop")
			break
		}
		if errors.Is(err, ErrSessionExpired) {
			a.log.Warn("WeChat ended the bot session (errcode -14); log in again by scanning the new QR code. Other chat platforms keep running.")
			a.conn.Down(ErrSessionExpired)
			st.Expired = true
			if err := saveState(path, st); err != nil {
				a.log.Error("storing the expired login", "err", err)
			}
		}
	}
	return nil
}

// begin makes acct the live session.
func (a *Adapter) begin(ctx context.Context, acct account) *live {
	a.redact(acct.Token)
	lctx, cancel := context.WithCancel(ctx)
	l := &live{acct: acct, ctx: lctx, cancel: cancel}
	a.setLive(l)
	a.notify(acct, "notifystart")
	a.log.Info("connected to WeChat (iLink); answering messages", "bot", acct.BotID)
	return l
}

// end takes l down.
func (a *Adapter) end(l *live) {
	l.cancel()
	a.mu.Lock()
	if a.cur == l {
		a.cur = nil
		close(a.changed)
		a.changed = make(chan struct{})
	}
	a.mu.Unlock()
}

func (a *Adapter) setLive(l *live) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur = l
	close(a.changed)
	a.changed = make(chan struct{})
}

// expire ends l after a call found its token stale; the poll loop then
// logs in again.
func (a *Adapter) expire(l *live) { l.cancel() }

// notify tells the server the client starts or stops; failures are only
// logged, as the reference does.
func (a *Adapter) notify(acct account, which string) {
	ctx, cancel := context.WithTimeout(context.Background(), configTimeout)
	defer cancel()
	if err := a.api.notify(ctx, acct, which); err != nil {
		a.log.Debug("ilink "+which+" failed (ignored)", "err", err)
	}
}

// poll long-polls for messages until ctx is done or the session expires,
// keeping the cursor in st and its file.
func (a *Adapter) poll(ctx context.Context, l *live, st *state, path string) error {
	timeout := defaultLongPoll
	failures := 0
	for {
		resp, err := a.api.getUpdates(l.ctx, l.acct, st.GetUpdatesBuf, timeout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrSessionExpired) || l.ctx.Err() != nil {
			return ErrSessionExpired
		}
		if err != nil {
			a.conn.Down(fmt.Errorf("getupdates: %w", err))
			failures++
			pause := a.retryDelay
			if failures >= a.maxFailures {
				failures, pause = 0, a.backoffDelay
				a.log.Error("getupdates failed several times in a row; backing off", "err", err, "pause", pause)
			} else {
				a.log.Warn("getupdates failed; retrying", "err", err, "pause", pause)
			}
			if !sleep(ctx, pause) {
				return ctx.Err()
			}
			continue
		}
		failures = 0
		a.conn.Up()
		if ms := resp.LongpollingTimeoutMS; ms > 0 {
			timeout = min(time.Duration(ms)*time.Millisecond, maxLongPoll)
		}
		if resp.GetUpdatesBuf != "" && resp.GetUpdatesBuf != st.GetUpdatesBuf {
			st.GetUpdatesBuf = resp.GetUpdatesBuf
			if err := saveState(path, *st); err != nil {
				a.log.Error("storing the long-poll cursor", "err", err)
			}
		}
		for _, m := range resp.Msgs {
			a.handle(l, m)
		}
	}
}

// handle translates one message and hands it to the core.
func (a *Adapter) handle(l *live, m weixinMessage) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("panic while handling a WeChat message", "panic", p)
		}
	}()
	if id := messageIDOf(m); id != "" && !a.seen.add(id) {
		return
	}
	in := translate(m, a.toks, a.sent.contains)
	if in.kind == kindIgnore || slices.Contains(a.cfg.BlockedUsers, in.from) {
		return
	}
	r := &replier{a: a, chat: chatOf(in.from), to: in.from, contextToken: in.contextToken}
	switch in.kind {
	case kindMedia:
		if a.cfg.MediaReply == "" {
			return
		}
		a.spawn(func() {
			ctx, cancel := context.WithTimeout(l.ctx, time.Minute)
			defer cancel()
			if err := r.Send(ctx, a.cfg.MediaReply); err != nil {
				a.log.Warn("sending the text-only notice", "err", err)
			}
		})
	case kindReaction:
		a.h.HandleReaction(context.Background(), in.reaction, r)
	case kindMessage:
		a.h.HandleMessage(context.Background(), in.msg, r)
	}
}

// spawn runs f in a goroutine that shutdown waits for.
func (a *Adapter) spawn(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
}

// shutdown turns later sends away and waits for notices and typing
// indicators under way.
func (a *Adapter) shutdown() {
	a.mu.Lock()
	a.stopped = true
	close(a.quit)
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
	a.wg.Wait()
	a.log.Info("WeChat iLink adapter stopped")
}

// session returns the live session, waiting up to maxLoginWait (or ctx)
// while a login is under way.
func (a *Adapter) session(ctx context.Context) (*live, error) {
	deadline := time.NewTimer(maxLoginWait)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		l, changed, stopped := a.cur, a.changed, a.stopped
		a.mu.Unlock()
		if stopped {
			return nil, ErrNotLoggedIn
		}
		if l != nil && l.ctx.Err() == nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, ErrNotLoggedIn
		case <-changed:
		}
	}
}

// sleep waits d or until ctx is done, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
