package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// DefaultGroupNotice is [bot] group_notice's default. When it is in force
// a Chinese question gets its Chinese form, groupNoticeZH.
const DefaultGroupNotice = "Reactions to my answers are collected to improve me; send /optout to stop."

const groupNoticeZH = "对我回答的反应会被收集用来改进我；发送 /退出 即可停止。"

// ConsentStore is what the core needs to honour consent: which group
// chats were told that reactions are collected, and who opted out. A
// FeedbackStore that also implements it turns both on. Raw user ids passed
// in are hashed by the store, never kept.
type ConsentStore interface {
	// GroupNotified reports whether the group chat was told.
	GroupNotified(ctx context.Context, platform string, chat ChatID) (bool, error)
	// MarkGroupNotified records that the group chat was told.
	MarkGroupNotified(ctx context.Context, platform string, chat ChatID) error
	// OptedOut reports whether the person opted out.
	OptedOut(ctx context.Context, platform string, user UserID) (bool, error)
	// OptOut records the opt-out and forgets the person's votes and
	// choices, returning how many went.
	OptOut(ctx context.Context, platform string, user UserID) (int, error)
	// OptIn reverses OptOut.
	OptIn(ctx context.Context, platform string, user UserID) error
}

// consent is the store's ConsentStore side, or nil.
func (c *Core) consent() ConsentStore {
	cs, _ := c.opts.Store.(ConsentStore)
	return cs
}

// optedOut reports whether the person opted out. When the store cannot
// say, it errs on the side of not recording.
func (c *Core) optedOut(ctx context.Context, platform string, user UserID) bool {
	out, err := c.readOptOut(ctx, platform, user)
	if err != nil {
		c.log.Error("reading consent; not recording", "platform", platform, "err", err)
		return true
	}
	return out
}

// readOptOut asks the store whether the person opted out.
func (c *Core) readOptOut(ctx context.Context, platform string, user UserID) (bool, error) {
	cs := c.consent()
	if cs == nil || user == "" {
		return false, nil
	}
	return cs.OptedOut(context.WithoutCancel(ctx), platform, user)
}

// claimNotice returns the group notice when m's group chat has not been
// told yet, and claims the chat so that no other answer carries it too;
// "" otherwise. settleNotice must follow a non-empty result.
func (c *Core) claimNotice(ctx context.Context, m Message) string {
	cs := c.consent()
	if cs == nil || m.IsDirect || c.cfg.GroupNotice == "" {
		return ""
	}
	key := chatKey{m.Platform, m.ChatID}
	c.mu.Lock()
	if c.noticed[key] {
		c.mu.Unlock()
		return ""
	}
	c.noticed[key] = true
	c.mu.Unlock()
	done, err := cs.GroupNotified(context.WithoutCancel(ctx), m.Platform, m.ChatID)
	if err != nil {
		c.log.Error("reading group notice", "platform", m.Platform, "err", err)
		c.releaseNotice(m)
		return ""
	}
	if done {
		return "" // stays claimed: the store said so once
	}
	if c.cfg.GroupNotice == DefaultGroupNotice {
		return phrase(m.Text, DefaultGroupNotice, groupNoticeZH)
	}
	return c.cfg.GroupNotice
}

// releaseNotice gives back a claim whose notice was not shown.
func (c *Core) releaseNotice(m Message) {
	c.mu.Lock()
	delete(c.noticed, chatKey{m.Platform, m.ChatID})
	c.mu.Unlock()
}

// settleNotice stores that the group was told when the notice was shown,
// or releases the claim when it was not.
func (c *Core) settleNotice(ctx context.Context, m Message, claimed, shown bool) {
	switch {
	case !claimed:
	case !shown:
		c.releaseNotice(m)
	default:
		if err := c.consent().MarkGroupNotified(context.WithoutCancel(ctx), m.Platform, m.ChatID); err != nil {
			c.log.Error("recording group notice", "platform", m.Platform, "err", err)
		}
	}
}

// setConsent handles /optout and /optin.
func (c *Core) setConsent(ctx context.Context, m Message, out bool, r Replier) {
	cs := c.consent()
	if cs == nil {
		c.send(ctx, r, phrase(m.Text, "Nothing is recorded here: feedback is off.", "这里不记录任何内容：反馈功能未开启。"))
		return
	}
	if !out {
		if err := cs.OptIn(ctx, m.Platform, m.SenderID); err != nil {
			c.log.Error("opting in", "platform", m.Platform, "err", err)
			c.send(ctx, r, phrase(m.Text, "Sorry, I could not record that; please try again.", "抱歉，没能记录，请再试一次。"))
			return
		}
		c.send(ctx, r, phrase(m.Text, "You opted in: your later questions, my answers and your votes are recorded again.", "已重新加入：之后你的提问、我的回答和你的评价会再次被记录。"))
		return
	}
	n, err := cs.OptOut(ctx, m.Platform, m.SenderID)
	if err != nil {
		c.log.Error("opting out", "platform", m.Platform, "err", err)
		c.send(ctx, r, phrase(m.Text, "Sorry, I could not record your opt-out; please try again.", "抱歉，没能记录你的退出，请再试一次。"))
		return
	}
	c.send(ctx, r, phrase(m.Text,
		fmt.Sprintf("You opted out: %d of your votes and A/B choices were forgotten, and your later questions, my answers to them and your votes are not recorded. /optin reverses this.", n),
		fmt.Sprintf("已退出：删除了你的 %d 个评价和选择，之后你的提问、我对它们的回答和你的评价都不会被记录。发送 /加入 可以恢复。", n)))
}

// optedOutNotice answers a vote command from someone who opted out.
func optedOutNotice(text string) string {
	return phrase(text, "You opted out, so your votes are not recorded. /optin records them again.", "你已退出，评价不会被记录。发送 /加入 可以恢复。")
}

// withoutNotices removes the group notice from the end of assistant turns
// in a history an adapter read back from the platform, so that the model
// sees its own words only.
func (c *Core) withoutNotices(history []Turn) []Turn {
	if c.cfg.GroupNotice == "" {
		return history
	}
	notices := []string{c.cfg.GroupNotice}
	if c.cfg.GroupNotice == DefaultGroupNotice {
		notices = append(notices, groupNoticeZH)
	}
	var out []Turn
	for i, t := range history {
		if t.Role != RoleAssistant {
			continue
		}
		for _, n := range notices {
			if s, ok := strings.CutSuffix(t.Content, "\n\n"+n); ok {
				if out == nil {
					out = slices.Clone(history)
				}
				out[i].Content = s
				break
			}
		}
	}
	if out == nil {
		return history
	}
	return out
}
