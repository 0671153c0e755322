package ilink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/bot"
)

const (
	// cutNote ends the last part of an answer that had more parts than
	// max_parts allows.
	cutNote = "\n…（回答过长，已截断 / answer cut short）"
	// failNotice tells the asker an answer could not be delivered, as the
	// reference's error notice does (without the internal error text).
	failNotice = "⚠️ 消息发送失败，请稍后再试。(The answer could not be sent; please try again later.)"
	// maxTyping is the longest a typing indicator is kept up.
	maxTyping = 3 * time.Minute
)

// replier shows the core's output to one WeChat user, in the conversation
// of the message it answers. iLink text messages cannot be edited (the
// reference sends every reply whole, message_state FINISH), so an answer
// is sent once it is complete, in parts when it is long.
type replier struct {
	a            *Adapter
	chat         bot.ChatID
	to           string // the user's iLink id
	contextToken string // of the message being answered

	mu         sync.Mutex
	stopTyping chan struct{}
	completed  bool
}

var (
	_ bot.Replier   = (*replier)(nil)
	_ bot.Typer     = (*replier)(nil)
	_ bot.Completer = (*replier)(nil)
)

// Send shows a notice.
func (r *replier) Send(ctx context.Context, text string) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	for _, part := range r.a.parts(text) {
		if _, err := r.a.send(ctx, r.to, r.contextToken, part); err != nil {
			return err
		}
	}
	return nil
}

// Stream collects the answer and sends it in parts when it is complete,
// calling out.Sent with each part's message id as soon as it is sent.
func (r *replier) Stream(ctx context.Context, out bot.Outgoing, tokens <-chan string) error {
	var b strings.Builder
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case t, ok := <-tokens:
			if !ok {
				done = true
				break
			}
			b.WriteString(t)
		}
	}
	text := strings.TrimSpace(b.String())
	if text == "" {
		r.a.log.Info("empty answer not sent")
		return nil
	}
	if out.Label != "" {
		text = "【" + out.Label + "】" + text
	}
	for _, part := range r.a.parts(text) {
		id, err := r.a.send(ctx, r.to, r.contextToken, part)
		if err != nil {
			r.failed(ctx, err)
			return err
		}
		r.a.sent.add(string(id))
		if out.Sent != nil {
			out.Sent(id)
		}
	}
	return nil
}

// failed tells the asker that an answer could not be sent, once, unless
// the session is gone or the answer was withdrawn.
func (r *replier) failed(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, ErrSessionExpired) || errors.Is(err, ErrNotLoggedIn) {
		return
	}
	r.a.spawn(func() {
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
		defer cancel()
		if _, err := r.a.send(nctx, r.to, r.contextToken, failNotice); err != nil {
			r.a.log.Debug("sending the failure notice", "err", err)
		}
	})
}

// Typing shows "typing…" to the user until the core is done with the
// message (Complete), renewing it as the reference does; it needs a
// typing ticket from getconfig, cached per user.
func (r *replier) Typing(ctx context.Context) error {
	l := r.a.current()
	if l == nil {
		return ErrNotLoggedIn
	}
	ticket, err := r.a.tickets.get(ctx, &r.a.api, l.acct, r.to, r.contextToken)
	if ticket == "" {
		return err
	}
	if err := r.a.api.sendTyping(ctx, l.acct, r.to, ticket, typingOn); err != nil {
		return err
	}
	stop := make(chan struct{})
	r.mu.Lock()
	if r.completed || r.stopTyping != nil {
		r.mu.Unlock()
		close(stop)
	} else {
		r.stopTyping = stop
		r.mu.Unlock()
	}
	r.a.spawn(func() {
		renew := time.NewTicker(r.a.keepTyping)
		defer renew.Stop()
		limit := time.NewTimer(maxTyping)
		defer limit.Stop()
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), configTimeout)
			defer cancel()
			if err := r.a.api.sendTyping(cctx, l.acct, r.to, ticket, typingCancel); err != nil {
				r.a.log.Debug("cancelling the typing indicator", "err", err)
			}
		}()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-l.ctx.Done():
				return
			case <-r.a.quit:
				return
			case <-limit.C:
				return
			case <-renew.C:
				if err := r.a.api.sendTyping(ctx, l.acct, r.to, ticket, typingOn); err != nil {
					r.a.log.Debug("renewing the typing indicator", "err", err)
				}
			}
		}
	})
	return nil
}

// Complete ends the typing indicator.
func (r *replier) Complete() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.completed {
		return
	}
	r.completed = true
	if r.stopTyping != nil {
		close(r.stopTyping)
	}
}

// parts splits text into messages of at most part_chars characters, cut
// at paragraph breaks where possible, and at most max_parts of them.
func (a *Adapter) parts(text string) []string {
	limit := a.cfg.PartChars
	ps := bot.SplitReply(text, limit)
	if len(ps) <= a.cfg.MaxParts {
		return ps
	}
	ps = ps[:a.cfg.MaxParts]
	last := []rune(strings.TrimSpace(ps[len(ps)-1]))
	room := limit - len([]rune(cutNote))
	if len(last) > room {
		last = last[:max(room, 0)]
	}
	ps[len(ps)-1] = string(last) + cutNote
	return ps
}

// send sends one text message to user in the conversation of
// contextToken through the live session and returns its message id: the
// server's, else the client id it was sent with. A send that finds the
// session expired waits for the next login and is tried once more.
func (a *Adapter) send(ctx context.Context, user, contextToken, text string) (bot.MessageID, error) {
	for attempt := 0; ; attempt++ {
		l, err := a.session(ctx)
		if err != nil {
			return "", err
		}
		clientID := newClientID()
		id, err := a.api.sendText(ctx, l.acct, user, contextToken, clientID, text)
		if errors.Is(err, ErrSessionExpired) && attempt == 0 {
			a.expire(l)
			continue
		}
		if err != nil {
			return "", err
		}
		if id == "" {
			return bot.MessageID(clientID), nil
		}
		return bot.MessageID(id), nil
	}
}

// current is the live session, or nil.
func (a *Adapter) current() *live {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur == nil || a.cur.ctx.Err() != nil {
		return nil
	}
	return a.cur
}

// newClientID is a unique id for one sent message.
func newClientID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "chatloop-" + hex.EncodeToString(b[:])
}

// ticketCache keeps each user's typing ticket, refreshed within a day
// (at a random time, as the reference does) and retried with a doubling
// pause up to an hour after failures.
type ticketCache struct {
	mu sync.Mutex
	m  map[string]ticketEntry
}

type ticketEntry struct {
	ticket string
	next   time.Time
	retry  time.Duration
}

const (
	ticketTTL        = 24 * time.Hour
	ticketRetry      = 2 * time.Second
	ticketMaxRetry   = time.Hour
	ticketMaxEntries = 4096
)

func newTicketCache() *ticketCache { return &ticketCache{m: map[string]ticketEntry{}} }

// get returns user's ticket, asking the server when it is due.
func (c *ticketCache) get(ctx context.Context, api *api, acct account, user, contextToken string) (string, error) {
	key := acct.BotID + "\x00" + user
	now := time.Now()
	c.mu.Lock()
	e, found := c.m[key]
	c.mu.Unlock()
	if found && now.Before(e.next) {
		return e.ticket, nil
	}
	ticket, err := api.typingTicket(ctx, acct, user, contextToken)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		e.retry = min(max(2*e.retry, ticketRetry), ticketMaxRetry)
		e.next = now.Add(e.retry)
	} else {
		e = ticketEntry{ticket: ticket, next: now.Add(time.Duration(mrand.Int64N(int64(ticketTTL)))), retry: 0}
	}
	if len(c.m) >= ticketMaxEntries {
		for k, old := range c.m {
			if now.After(old.next) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= ticketMaxEntries {
			clear(c.m)
		}
	}
	c.m[key] = e
	return e.ticket, err
}
