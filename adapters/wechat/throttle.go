package wechat

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// throttle spaces sends: one at a time, each starting at least perChat
// after the previous send to the same chat finished and at least global
// after any send finished, plus a random jitter. Counting from the end of
// the previous send keeps the spacing WeChat sees even when a request is
// slow to arrive.
type throttle struct {
	perChat, global, jitter time.Duration

	slot chan struct{} // held by the one send under way

	mu       sync.Mutex
	lastChat map[bot.ChatID]time.Time
	last     time.Time // when the latest send finished
	paused   time.Time // no send before this
	rng      *rand.Rand
}

func newThrottle(perChat, global, jitter time.Duration) *throttle {
	return &throttle{
		perChat:  perChat,
		global:   global,
		jitter:   jitter,
		slot:     make(chan struct{}, 1),
		lastChat: map[bot.ChatID]time.Time{},
		rng:      rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
	}
}

// acquire waits until a send to chat may start and returns the function
// to call when it has finished (sent or failed). It returns ctx's error
// if ctx is done first.
func (t *throttle) acquire(ctx context.Context, chat bot.ChatID) (done func(), err error) {
	select {
	case t.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !sleep(ctx, time.Until(t.earliest(chat))) {
		<-t.slot
		return nil, ctx.Err()
	}
	return func() {
		t.mu.Lock()
		now := time.Now()
		t.lastChat[chat], t.last = now, now
		if len(t.lastChat) > 1024 {
			for c, at := range t.lastChat {
				if now.Sub(at) > t.perChat {
					delete(t.lastChat, c)
				}
			}
		}
		t.mu.Unlock()
		<-t.slot
	}, nil
}

// earliest is when the next send to chat may start.
func (t *throttle) earliest(chat bot.ChatID) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := time.Now()
	for _, next := range []time.Time{t.lastChat[chat].Add(t.perChat), t.last.Add(t.global), t.paused} {
		if next.After(at) {
			at = next
		}
	}
	if t.jitter > 0 {
		at = at.Add(time.Duration(t.rng.Int64N(int64(t.jitter) + 1)))
	}
	return at
}

// pause holds every send back for d, after WeChat said "too often".
func (t *throttle) pause(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until := time.Now().Add(d); until.After(t.paused) {
		t.paused = until
	}
}
