package wechat

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/eatmoreapple/openwechat"

	"github.com/chatloop/chatloop/bot"
)

// cutNote ends the last part of an answer that had more parts than
// max_parts allows.
const cutNote = "\n…（回答过长，已截断 / answer cut short）"

// replier shows the core's output in one WeChat chat. WeChat cannot edit
// messages, so an answer is sent once it is complete.
type replier struct {
	a       *Adapter
	chat    bot.ChatID
	to      string // the group's or friend's session user name
	asker   bot.UserID
	mention string // "@Name\u2005" before replies in groups
}

var _ bot.Replier = (*replier)(nil)

// Send shows a notice.
func (r *replier) Send(ctx context.Context, text string) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	for i, part := range r.a.parts(text) {
		if i == 0 {
			part = r.mention + part
		}
		if _, err := r.a.send(ctx, r.chat, r.to, part); err != nil {
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
	for i, part := range r.a.parts(text) {
		if i == 0 {
			part = r.mention + part
		}
		id, err := r.a.send(ctx, r.chat, r.to, part)
		if err != nil {
			return err
		}
		r.a.mem.remember(r.chat, part, id)
		if out.Sent != nil {
			out.Sent(id)
		}
	}
	if out.Label != "" {
		r.a.mem.choicePending(r.chat, r.asker)
	}
	return nil
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

// send sends one text message to a chat within the throttle, through the
// live login, and returns its message id.
func (a *Adapter) send(ctx context.Context, chat bot.ChatID, to, text string) (bot.MessageID, error) {
	s, err := a.session(ctx)
	if err != nil {
		return "", err
	}
	done, err := a.thr.acquire(ctx, chat)
	if err != nil {
		return "", err
	}
	defer done()
	b := s.bot
	sent, err := b.Caller.WebWxSendMsg(ctx, &openwechat.CallerWebWxSendMsgOptions{
		LoginInfo:   b.Storage.LoginInfo,
		BaseRequest: b.Storage.Request,
		Message:     openwechat.NewTextSendMessage(text, s.selfName, to),
	})
	if err != nil {
		var ret openwechat.Ret
		if errors.As(err, &ret) && int(ret) == retTooOften {
			a.thr.pause(tooOftenPause)
			a.log.Warn("WeChat says the account sends too often; pausing sends", "pause", tooOftenPause)
		}
		return "", fmt.Errorf("wechat: sending a message: %w", err)
	}
	return bot.MessageID(sent.MsgId), nil
}
