package discord

import (
	"context"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/chatloop/chatloop/bot"
)

// Reaction emoji the adapter offers and understands.
const (
	emojiUp    = "👍"
	emojiDown  = "👎"
	emojiRegen = "🔄"
	emojiA     = "🅰️"
	emojiB     = "🅱️"
)

// reactionKind maps a reaction's emoji to what it means. Variation
// selectors and skin tones are ignored (👍🏽 is 👍).
func reactionKind(name string) (bot.ReactionKind, bool) {
	switch normalizeEmoji(name) {
	case normalizeEmoji(emojiUp):
		return bot.ReactionUp, true
	case normalizeEmoji(emojiDown):
		return bot.ReactionDown, true
	case normalizeEmoji(emojiRegen):
		return bot.ReactionRegen, true
	case normalizeEmoji(emojiA):
		return bot.ReactionChooseA, true
	case normalizeEmoji(emojiB):
		return bot.ReactionChooseB, true
	}
	return 0, false
}

// normalizeEmoji drops variation selectors and skin-tone modifiers.
func normalizeEmoji(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\uFE0F' || r == '\uFE0E' || (r >= 0x1F3FB && r <= 0x1F3FF) {
			return -1
		}
		return r
	}, s)
}

// reactionEvent is a reaction added or removed, as the gateway sent it.
type reactionEvent struct {
	r       discordgo.MessageReaction
	member  *discordgo.Member
	removed bool
}

// queueReaction passes a reaction to the worker, keeping the order in
// which they arrived (an add then a remove must not be swapped).
func (a *Adapter) queueReaction(ctx context.Context, e reactionEvent) {
	if _, ok := reactionKind(e.r.Emoji.Name); !ok || e.r.Emoji.ID != "" {
		return // not one of ours (custom emoji have ids)
	}
	select {
	case a.reactions <- e:
	case <-ctx.Done():
	}
}

// reactionWorker handles queued reactions one at a time until ctx is done.
func (a *Adapter) reactionWorker(ctx context.Context, s *discordgo.Session) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-a.reactions:
			a.onReaction(ctx, s, e)
		}
	}
}

// onReaction turns a reaction on one of the bot's answers into a vote,
// choice or regeneration request.
func (a *Adapter) onReaction(ctx context.Context, s *discordgo.Session, e reactionEvent) {
	kind, _ := reactionKind(e.r.Emoji.Name)
	botID := a.bot()
	if e.r.UserID == "" || e.r.UserID == botID || (e.member != nil && e.member.User != nil && e.member.User.Bot) {
		return // the bot's own controls, or another bot: never a vote
	}
	if !a.allowed(ctx, s, e.r.GuildID, e.r.ChannelID, e.r.UserID) {
		return
	}
	question, ok := a.answerQuestion(ctx, s, e.r.ChannelID, e.r.MessageID, botID)
	if !ok {
		return // a reaction on someone else's message or on a notice
	}
	x := bot.Reaction{
		Platform:  Platform,
		ChatID:    bot.ChatID(e.r.ChannelID),
		UserID:    bot.UserID(e.r.UserID),
		Kind:      kind,
		Removed:   e.removed,
		MessageID: bot.MessageID(e.r.MessageID),
	}
	var r bot.Replier
	if kind == bot.ReactionRegen && !e.removed {
		replyTo := question
		if replyTo == "" {
			replyTo = e.r.MessageID
		}
		r = a.newReplier(s, e.r.ChannelID, e.r.GuildID, replyTo)
	}
	a.h.HandleReaction(ctx, x, r)
}

// answerQuestion reports whether msgID is a message the bot showed an
// answer as, and the id of the question it answers when known. Messages
// from before a restart are looked up once through REST.
func (a *Adapter) answerQuestion(ctx context.Context, s *discordgo.Session, channelID, msgID, botID string) (string, bool) {
	if q, ok := a.answers.get(msgID); ok {
		return q, true
	}
	if _, ok := a.notOwn.get(msgID); ok {
		return "", false
	}
	m, err := s.ChannelMessage(channelID, msgID, discordgo.WithContext(ctx))
	if err != nil {
		if !isUnknownMessage(err) {
			a.log.Warn("looking up a reacted message", "err", err)
		}
		return "", false
	}
	if m.Author == nil || m.Author.ID != botID {
		a.notOwn.put(msgID, "")
		return "", false
	}
	// The first part of an answer replies to the question; later parts
	// reply to the part before them.
	q := ""
	for ref, hops := replyRef(m), 0; ref != nil && hops < 10; hops++ {
		if rm := m.ReferencedMessage; rm != nil && rm.ID == ref.MessageID {
			m = rm
		} else if m, err = s.ChannelMessage(channelID, ref.MessageID, discordgo.WithContext(ctx)); err != nil {
			break
		}
		if m.Author == nil || m.Author.ID != botID {
			q = m.ID
			break
		}
		ref = replyRef(m)
	}
	a.answers.put(msgID, q)
	return q, true
}
