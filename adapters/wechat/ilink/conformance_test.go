package ilink

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestConformance runs the adapters' common suite through the iLink
// adapter against the fake iLink server: direct chats, votes as thumbs
// messages on the latest answer, "换一个". iLink offers no way to take a
// vote back or to recall a message to a bot, so those steps are skipped.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, &conformer{f: newFakeILink(t)})
}

type conformer struct {
	f   *fakeILink
	cfg Config
	// store is where the suite's core records answers; the driver reads
	// it only to know when an answer is complete (WeChat shows no sign).
	store *feedback.Store

	mu    sync.Mutex
	asked map[string]ilAsked
}

type ilAsked struct {
	from  string
	marks []int // sent messages before each answer began
}

// ilUsers maps the suite's people to WeChat users of the fake.
var ilUsers = map[string]string{
	"alice": "o9cq800kum@im.wechat",
	"bob":   "o9cq801bob@im.wechat",
	"carol": "o9cq802car@im.wechat",
}

func (c *conformer) Name() string                  { return Platform }
func (c *conformer) UserID(user string) bot.UserID { return bot.UserID(ilUsers[user]) }
func (c *conformer) Fits(text string) bool         { return utf8.RuneCountInString(text) <= c.cfg.PartChars }

func (c *conformer) Start(t *testing.T, h bot.Handler, st *feedback.Store) {
	c.asked, c.store = map[string]ilAsked{}, st
	c.cfg = testConfig(c.f, t.TempDir())
	r := startAdapter(t, c.cfg, h)
	qrLogin(t, c.f, r, 1)
}

func (c *conformer) Ask(t *testing.T, user, text string) string {
	from := ilUsers[user]
	mark := c.f.sentCount()
	id, _ := c.f.push(from, textIt(text))
	q := strconv.FormatUint(id, 10)
	c.mu.Lock()
	c.asked[q] = ilAsked{from: from, marks: []int{mark}}
	c.mu.Unlock()
	return q
}

// Answer waits until the answer's parts are sent and the answer is stored
// as finished (after its last part went out).
func (c *conformer) Answer(t *testing.T, q string, n int) []adaptertest.Sent {
	t.Helper()
	c.mu.Lock()
	a := c.asked[q]
	c.mu.Unlock()
	if n >= len(a.marks) {
		t.Fatalf("answer %d to %s was never asked for", n, q)
	}
	mine := func() []adaptertest.Sent {
		c.f.mu.Lock()
		defer c.f.mu.Unlock()
		var out []adaptertest.Sent
		for _, s := range c.f.sent[a.marks[n]:] {
			if s.To == a.from {
				out = append(out, adaptertest.Sent{ID: s.MessageID, Text: s.Text})
			}
		}
		return out
	}
	waitFor(t, fmt.Sprintf("answer %d to %s", n, q), 30*time.Second, func() bool {
		parts := mine()
		if len(parts) == 0 {
			return false
		}
		id, err := c.store.AnswerByMessage(context.Background(), Platform, bot.MessageID(parts[0].ID))
		if err != nil {
			return false
		}
		ans, err := c.store.Answer(context.Background(), id)
		return err == nil && ans.Finished
	})
	return mine()
}

func (c *conformer) Vote(t *testing.T, user, q string, part adaptertest.Sent, value int) error {
	switch value {
	case 1:
		c.f.says(ilUsers[user], "[强]")
	case -1:
		c.f.says(ilUsers[user], "[弱]")
	default:
		return fmt.Errorf("taking a vote back: WeChat votes are messages: %w", adaptertest.ErrUnsupported)
	}
	return nil
}

func (c *conformer) Regen(t *testing.T, user, q string, part adaptertest.Sent) error {
	c.mu.Lock()
	a := c.asked[q]
	a.marks = append(a.marks, c.f.sentCount())
	c.asked[q] = a
	c.mu.Unlock()
	c.f.says(ilUsers[user], "换一个")
	return nil
}

// Delete: a WeChat user cannot recall a message sent to an iLink bot (the
// reference has no such event).
func (c *conformer) Delete(t *testing.T, q string) error {
	return fmt.Errorf("recalling a question: %w", adaptertest.ErrUnsupported)
}
