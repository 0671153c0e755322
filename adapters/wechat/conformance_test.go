package wechat

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

// TestConformance runs the adapters' common suite through the real
// openwechat client against the fake web-WeChat server: private chats,
// votes as thumbs messages, "换一个", a recalled question.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, &conformer{f: newFakeWeChat(t)})
}

type conformer struct {
	f   *fakeWeChat
	cfg Config
	// store is where the suite's core records answers; the driver reads
	// it only to know when an answer is complete (WeChat shows no sign).
	store *feedback.Store

	mu    sync.Mutex
	next  int64
	asked map[string]wcAsked
}

type wcAsked struct {
	from  string // the friend's UserName
	marks []int  // sent messages before each answer began
}

// users maps the suite's people to the fake's friends.
var wcUsers = map[string]struct{ userName, id string }{
	"alice": {"@alice01", "alice-remark"},
	"bob":   {"@carol01", "~Carol"},
	"carol": {"@carol01", "~Carol"},
}

func (c *conformer) Name() string                  { return Platform }
func (c *conformer) UserID(user string) bot.UserID { return bot.UserID(wcUsers[user].id) }
func (c *conformer) Fits(text string) bool         { return utf8.RuneCountInString(text) <= c.cfg.PartChars }

func (c *conformer) Start(t *testing.T, h bot.Handler, st *feedback.Store) {
	c.asked, c.next, c.store = map[string]wcAsked{}, 900000, st
	c.cfg = testConfig(t.TempDir())
	r := startAdapter(t, c.f, c.cfg, h)
	qrLogin(t, c.f, r, 1, 1)
}

func (c *conformer) say(from, text string) string {
	c.mu.Lock()
	c.next++
	id := c.next
	c.mu.Unlock()
	m := c.f.text(from, text)
	m.MsgId, m.NewMsgId = strconv.FormatInt(id, 10), id
	c.f.push(m)
	return m.MsgId
}

func (c *conformer) Ask(t *testing.T, user, text string) string {
	from := wcUsers[user].userName
	mark := c.f.sentCount()
	q := c.say(from, text)
	c.mu.Lock()
	c.asked[q] = wcAsked{from: from, marks: []int{mark}}
	c.mu.Unlock()
	return q
}

// Answer waits until the answer's first part is sent and the answer is
// stored as finished (after its last part went out).
func (c *conformer) Answer(t *testing.T, q string, n int) []adaptertest.Sent {
	t.Helper()
	c.mu.Lock()
	a := c.asked[q]
	c.mu.Unlock()
	if n >= len(a.marks) {
		t.Fatalf("answer %d to %s was never asked for", n, q)
	}
	mine := func() []adaptertest.Sent {
		var out []adaptertest.Sent
		for _, s := range c.f.sentSince(a.marks[n]) {
			if s.To == a.from {
				out = append(out, adaptertest.Sent{ID: s.MsgID, Text: s.Content})
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
		c.say(wcUsers[user].userName, "[强]")
	case -1:
		c.say(wcUsers[user].userName, "[弱]")
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
	c.say(wcUsers[user].userName, "换一个")
	return nil
}

// Delete recalls the question (撤回), as web WeChat reports it.
func (c *conformer) Delete(t *testing.T, q string) error {
	c.mu.Lock()
	a := c.asked[q]
	c.mu.Unlock()
	c.f.push(fakeMsg{FromUserName: a.from, MsgType: 10002, Content: escapeContent(
		`<sysmsg type="revokemsg"><revokemsg><session>` + a.from + `</session><oldmsgid>1</oldmsgid><msgid>` + q +
			`</msgid><replacemsg>recalled a message</replacemsg></revokemsg></sysmsg>`)})
	return nil
}
