package wecom

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestConformance runs the adapters' common suite against the fake WeCom
// API, with callbacks signed and encrypted as WeCom sends them.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, &conformer{f: newFakeWeCom(t)})
}

// conformer drives the adapter for the suite: questions are members'
// private messages to the application, votes and regeneration the
// buttons of the card that follows each answer.
type conformer struct {
	f      *fakeWeCom
	target string

	mu    sync.Mutex
	msgID int
	asked map[string]asked         // question id → who asked and where its answers begin
	cards map[string]*templateCard // message id of a part → the card of its answer
}

type asked struct {
	user  string
	marks []int // sent messages before each answer began
}

func (c *conformer) Name() string                  { return Platform }
func (c *conformer) UserID(user string) bot.UserID { return bot.UserID(user) }

// Fits: WeCom's text messages carry at most 2,048 bytes.
func (c *conformer) Fits(text string) bool { return len(text) <= 2048 }

func (c *conformer) Start(t *testing.T, h bot.Handler, _ *feedback.Store) {
	c.asked, c.cards, c.msgID = map[string]asked{}, map[string]*templateCard{}, 5000
	c.target, _ = startAdapter(t, testConfig(t, c.f), h)
}

func (c *conformer) post(t *testing.T, xml string) {
	t.Helper()
	if status, _ := c.f.post(t, c.target, c.f.seal(xml, time.Now())); status != 200 {
		t.Fatalf("callback answered %d", status)
	}
}

func (c *conformer) Ask(t *testing.T, user, text string) string {
	c.mu.Lock()
	c.msgID++
	id := c.msgID
	q := fmt.Sprint(id)
	c.asked[q] = asked{user: user, marks: []int{c.f.sentCount()}}
	c.mu.Unlock()
	c.post(t, textXML(user, text, id))
	return q
}

// Answer waits for the card that follows a complete answer; the text
// messages to the asker before it are the answer's parts.
func (c *conformer) Answer(t *testing.T, q string, n int) []adaptertest.Sent {
	t.Helper()
	c.mu.Lock()
	a := c.asked[q]
	c.mu.Unlock()
	if n >= len(a.marks) {
		t.Fatalf("answer %d to %s was never asked for", n, q)
	}
	var parts []adaptertest.Sent
	var card *templateCard
	waitFor(t, fmt.Sprintf("answer %d to %s and its card", n, q), func() bool {
		parts, card = nil, nil
		for _, m := range c.f.sentFrom(a.marks[n]) {
			if m.ToUser != a.user {
				continue
			}
			if m.MsgType == "template_card" && len(parts) > 0 {
				card = m.Card
				return true
			}
			if m.MsgType == "text" {
				parts = append(parts, adaptertest.Sent{ID: m.MsgID, Text: m.Text.Content})
			}
		}
		return false
	})
	c.mu.Lock()
	for _, p := range parts {
		c.cards[p.ID] = card
	}
	c.mu.Unlock()
	return parts
}

// press sends user's press of the card button labelled label.
func (c *conformer) press(t *testing.T, user string, part adaptertest.Sent, label string) {
	t.Helper()
	c.mu.Lock()
	card := c.cards[part.ID]
	c.mu.Unlock()
	if card == nil {
		t.Fatalf("no card for message %s", part.ID)
	}
	for _, b := range card.ButtonList {
		if strings.HasPrefix(b.Text, label) { // "👍", "🔄 换一个"
			ev, _ := c.f.buttonXML(user, b.Key, card.TaskID)
			c.post(t, ev)
			return
		}
	}
	t.Fatalf("the card has no %s button", label)
}

func (c *conformer) Vote(t *testing.T, user, q string, part adaptertest.Sent, value int) error {
	switch value {
	case 1:
		c.press(t, user, part, "👍")
	case -1:
		c.press(t, user, part, "👎")
	default:
		return fmt.Errorf("taking a vote back: the card's buttons only replace it: %w", adaptertest.ErrUnsupported)
	}
	return nil
}

func (c *conformer) Regen(t *testing.T, user, q string, part adaptertest.Sent) error {
	c.mu.Lock()
	a := c.asked[q]
	a.marks = append(a.marks, c.f.sentCount())
	c.asked[q] = a
	c.mu.Unlock()
	c.press(t, user, part, "🔄")
	return nil
}

func (c *conformer) Delete(t *testing.T, q string) error {
	return fmt.Errorf("a recalled message: WeCom sends an application no event for it: %w", adaptertest.ErrUnsupported)
}
