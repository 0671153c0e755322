package wechat

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// throttle spaces sends: at least perChat between two sends to one chat,
// at least global between any two sends, plus a random jitter. Each caller
// reserves the next free slot, so concurrent senders queue up in order
// and the spacing holds however many wait.
type throttle struct {
	perChat, global, jitter time.Duration

	mu         sync.Mutex
	nextChat   map[bot.ChatID]time.Time
	nextGlobal time.Time
	rng        *rand.Rand
}

func newThrottle(perChat, global, jitter time.Duration) *throttle {
	return &throttle{
		perChat:  perChat,
		global:   global,
		jitter:   jitter,
		nextChat: map[bot.ChatID]time.Time{},
		rng:      rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
	}
}

// wait blocks until a send to chat may go out, or ctx is done.
func (t *throttle) wait(ctx context.Context, chat bot.ChatID) error {
	d := time.Until(t.reserve(chat, time.Now()))
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// reserve books the next free slot for a send to chat, seen at now, and
// returns its time.
func (t *throttle) reserve(chat bot.ChatID, now time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := now
	if n := t.nextChat[chat]; n.After(at) {
		at = n
	}
	if t.nextGlobal.After(at) {
		at = t.nextGlobal
	}
	if t.jitter > 0 {
		at = at.Add(time.Duration(t.rng.Int64N(int64(t.jitter) + 1)))
	}
	t.nextChat[chat] = at.Add(t.perChat)
	t.nextGlobal = at.Add(t.global)
	if len(t.nextChat) > 1024 {
		for c, n := range t.nextChat {
			if n.Before(now) {
				delete(t.nextChat, c)
			}
		}
	}
	return at
}

// pause holds every send back for d, after WeChat said "too often".
func (t *throttle) pause(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until := time.Now().Add(d); until.After(t.nextGlobal) {
		t.nextGlobal = until
	}
}
