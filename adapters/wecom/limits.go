package wecom

import (
	"bytes"
	"context"
	"time"
)

// Bounds on what an unauthenticated peer can make the callback server hold.
// A real callback is a few KB; a hostile one must not cost more than
// maxBody of memory, one of maxConnections slots and bodyTimeout of time.
const (
	// maxBody is the largest callback body read (413 beyond).
	maxBody = 64 << 10
	// defaultMaxConnections caps the callback connections served at once;
	// more wait in the kernel's accept backlog.
	defaultMaxConnections = 256
	// defaultBodyTimeout is how long a callback's body may take to arrive
	// once its headers are in.
	defaultBodyTimeout = 5 * time.Second
	// noticeSenders caps the notices and card updates in flight at once,
	// and noticeQueue those waiting for a sender; more are dropped (and
	// logged with a count) rather than each holding a connection while
	// WeCom's API is slow.
	noticeSenders = 16
	noticeQueue   = 256
	// noticeTimeout bounds one notice or card update.
	noticeTimeout = time.Minute
)

// WithMaxConnections caps the callback connections served at once
// (default 256).
func WithMaxConnections(n int) Option {
	return func(a *Adapter) {
		if n > 0 {
			a.maxConns = n
		}
	}
}

// SeenStore remembers the keys of callbacks already handled until they
// expire, across restarts, so that a callback captured within
// max_clock_skew cannot be played again after chatloop restarts.
// cmd/chatloop wires a bbolt-backed one.
type SeenStore interface {
	// FirstSeen records key until until and reports whether it was not
	// already recorded with an expiry after now.
	FirstSeen(ctx context.Context, key string, now, until time.Time) (bool, error)
}

// WithSeenStore keeps the replay guard's keys in s as well as in memory.
func WithSeenStore(s SeenStore) Option { return func(a *Adapter) { a.seen = s } }

// firstSeen reports whether key is new: first in memory, then in the
// persistent store when there is one. A store that fails is logged and the
// memory's answer stands.
func (a *Adapter) firstSeen(ctx context.Context, key string, now time.Time) bool {
	if !a.replay.first(key, now) {
		return false
	}
	if a.seen == nil {
		return true
	}
	ok, err := a.seen.FirstSeen(ctx, key, now, now.Add(a.replay.window))
	if err != nil {
		a.log.Error("recording a callback as seen failed; replays are caught in memory only", "err", err)
		return true
	}
	return ok
}

// encryptField finds the Encrypt element of a callback body with a bounded
// scan (no XML parser, no entities, no nesting), so that the signature over
// it can be checked before anything parses attacker-controlled XML. It
// accepts the text or a CDATA section, with surrounding white space.
func encryptField(body []byte) (string, bool) {
	const open, end = "<Encrypt>", "</Encrypt>"
	i := bytes.Index(body, []byte(open))
	if i < 0 {
		return "", false
	}
	rest := body[i+len(open):]
	j := bytes.Index(rest, []byte(end))
	if j < 0 {
		return "", false
	}
	v := bytes.TrimSpace(rest[:j])
	if after, ok := bytes.CutPrefix(v, []byte("<![CDATA[")); ok {
		inner, ok := bytes.CutSuffix(after, []byte("]]>"))
		if !ok {
			return "", false
		}
		v = bytes.TrimSpace(inner)
	}
	if len(v) == 0 || bytes.ContainsAny(v, "<>&") {
		return "", false
	}
	return string(v), true
}

// background queues fn on the adapter's send queue: at most
// noticeSenders run at once, noticeQueue more wait, and beyond that fn is
// dropped and the drops logged with their count (see internal/sendq).
func (a *Adapter) background(ctx context.Context, what string, fn func(context.Context)) {
	a.sends.Add(ctx, fn, func() { a.log.Debug("outgoing send dropped", "what", what) })
}
