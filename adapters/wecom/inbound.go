package wecom

import (
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// thumbs reports whether text is only a thumbs-up or thumbs-down (emoji
// with any skin tone or variation selector, or WeChat's [强]/[弱] codes),
// which votes on the member's latest answer.
func thumbs(text string) (bot.ReactionKind, bool) {
	t := strings.TrimSpace(text)
	t = strings.Map(func(r rune) rune {
		if r == '\uFE0F' || (r >= 0x1F3FB && r <= 0x1F3FF) {
			return -1
		}
		return r
	}, t)
	switch t {
	case "👍", "[强]", "[赞]":
		return bot.ReactionUp, true
	case "👎", "[弱]":
		return bot.ReactionDown, true
	}
	return 0, false
}

// replayGuard remembers the callbacks seen within a window, so that a
// captured callback cannot be played again while its timestamp is fresh.
type replayGuard struct {
	mu     sync.Mutex
	window time.Duration
	seen   map[string]time.Time
	pruned time.Time
}

// maxRemembered bounds the guard's memory; beyond it the oldest half of
// the window is forgotten early.
const maxRemembered = 1 << 16

func newReplayGuard(window time.Duration) *replayGuard {
	return &replayGuard{window: window, seen: map[string]time.Time{}}
}

// first records key at now and reports whether it was not seen within the
// window.
func (g *replayGuard) first(key string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if at, ok := g.seen[key]; ok && now.Sub(at) < g.window {
		return false
	}
	if now.Sub(g.pruned) > g.window/4 || len(g.seen) >= maxRemembered {
		keep := g.window
		if len(g.seen) >= maxRemembered {
			keep /= 2
		}
		for k, at := range g.seen {
			if now.Sub(at) >= keep {
				delete(g.seen, k)
			}
		}
		g.pruned = now
	}
	g.seen[key] = now
	return true
}
