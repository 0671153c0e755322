package wecom

import (
	"context"
	"fmt"
	"strings"

	"github.com/chatloop/chatloop/bot"
)

// textLimit is WeCom's limit on a text message's content, in bytes.
const textLimit = 2048

// replier shows the core's output to one member through message/send.
// WeCom cannot edit an application message, so an answer is sent once it
// is complete.
type replier struct {
	a    *Adapter
	user string
}

var _ bot.Replier = (*replier)(nil)

// Send shows a notice, split at WeCom's text limit.
func (r *replier) Send(ctx context.Context, text string) error {
	for _, part := range bot.SplitReplyBytes(text, textLimit) {
		if _, err := r.a.api.sendText(ctx, r.user, part); err != nil {
			return fmt.Errorf("sending a notice: %w", err)
		}
	}
	return nil
}

// Stream collects the answer, sends it split at WeCom's text limit, then
// the vote card.
func (r *replier) Stream(ctx context.Context, out bot.Outgoing, tokens <-chan string) error {
	var b strings.Builder
	if out.Label != "" {
		b.WriteString("【" + out.Label + "】\n")
	}
	head := b.Len()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case tok, ok := <-tokens:
			if !ok {
				done = true
				break
			}
			b.WriteString(tok)
		}
	}
	text := b.String()
	if strings.TrimSpace(text[head:]) == "" {
		text += "(空回答 / empty answer)"
	}
	for _, part := range bot.SplitReplyBytes(text, textLimit) {
		id, err := r.a.api.sendText(ctx, r.user, part)
		if err != nil {
			return fmt.Errorf("sending an answer: %w", err)
		}
		if id != "" && out.Sent != nil {
			out.Sent(bot.MessageID(id))
		}
	}
	if !out.Feedback || !r.a.cfg.Cards || out.AnswerID == "" {
		return nil
	}
	id, err := r.a.api.sendCard(ctx, r.user, voteCard(out.AnswerID, out.Label, 0))
	if err != nil {
		// The answer is out; text votes still work.
		r.a.log.Warn("sending the vote card", "answer", out.AnswerID, "err", err)
		return nil
	}
	if id != "" && out.Sent != nil {
		out.Sent(bot.MessageID(id))
	}
	return nil
}
