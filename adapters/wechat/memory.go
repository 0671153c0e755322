package wechat

import (
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/bot"
)

const (
	// sentPerChat is how many sent messages per chat are kept for matching
	// quote-replies.
	sentPerChat = 64
	// sentTTL is how long a sent message can be matched by its quote.
	sentTTL = 7 * 24 * time.Hour
	// choiceWindow is how long after an A/B answer a bare "A" or "B"
	// from its asker counts as a choice.
	choiceWindow = 10 * time.Minute
	// seenSize is how many incoming message ids are remembered to drop
	// duplicates after a re-login.
	seenSize = 2048
)

// memory is what the adapter remembers between messages: the messages it
// sent (to match quote-replies to them), pending A/B comparisons, and the
// incoming message ids it has seen.
type memory struct {
	mu      sync.Mutex
	sent    map[bot.ChatID][]sentMessage
	choices map[choiceKey]time.Time
	seen    map[string]bool
	order   []string
}

type sentMessage struct {
	norm string // the text as sent, normalized for quote matching
	id   bot.MessageID
	at   time.Time
}

type choiceKey struct {
	chat bot.ChatID
	user bot.UserID
}

func newMemory() *memory {
	return &memory{
		sent:    map[bot.ChatID][]sentMessage{},
		choices: map[choiceKey]time.Time{},
		seen:    map[string]bool{},
	}
}

// remember records a message the bot sent to chat.
func (m *memory) remember(chat bot.ChatID, text string, id bot.MessageID) {
	n := normalizeQuoted(text)
	if n == "" || id == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	list := append(m.sent[chat], sentMessage{norm: n, id: id, at: time.Now()})
	if len(list) > sentPerChat {
		list = list[len(list)-sentPerChat:]
	}
	m.sent[chat] = list
}

// match finds the newest message the bot sent to chat that quoted comes
// from. WeChat shortens long quotes, so a prefix or substring counts.
func (m *memory) match(chat bot.ChatID, quoted string) (bot.MessageID, bool) {
	q := normalizeQuoted(quoted)
	if q == "" {
		return "", false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.sent[chat]
	cutoff := time.Now().Add(-sentTTL)
	for i := len(list) - 1; i >= 0; i-- {
		s := list[i]
		if s.at.Before(cutoff) {
			break
		}
		if strings.HasPrefix(s.norm, q) || strings.Contains(s.norm, q) {
			return s.id, true
		}
	}
	return "", false
}

// choicePending records that user in chat was shown an A/B comparison.
func (m *memory) choicePending(chat bot.ChatID, user bot.UserID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.choices[choiceKey{chat, user}] = now
	for k, t := range m.choices {
		if now.Sub(t) > choiceWindow {
			delete(m.choices, k)
		}
	}
}

// choosing reports whether user in chat was shown an A/B comparison
// within the choice window.
func (m *memory) choosing(chat bot.ChatID, user bot.UserID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.choices[choiceKey{chat, user}]
	return ok && time.Since(t) <= choiceWindow
}

// firstSight reports whether the incoming message id is new, remembering
// it. WeChat may deliver a message again after a re-login.
func (m *memory) firstSight(id string) bool {
	if id == "" {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[id] {
		return false
	}
	m.seen[id] = true
	m.order = append(m.order, id)
	if len(m.order) > seenSize {
		delete(m.seen, m.order[0])
		m.order = m.order[1:]
	}
	return true
}

// normalizeQuoted drops whitespace and the ellipsis WeChat adds when it
// shortens a quote.
func normalizeQuoted(s string) string {
	s = strings.TrimSpace(s)
	for _, e := range []string{"...", "…"} {
		s = strings.TrimSuffix(s, e)
	}
	return strings.Join(strings.Fields(s), "")
}
