package discord

import (
	"context"
	"slices"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/chatloop/chatloop/bot"
)

// onMessage translates one MESSAGE_CREATE and hands it to the core.
func (a *Adapter) onMessage(ctx context.Context, s *discordgo.Session, m *discordgo.Message) {
	if m.Author == nil || !a.allowed(ctx, s, m.GuildID, m.ChannelID, m.Author.ID) {
		return
	}
	botID := a.bot()
	msg, replyToBot := a.translate(m, botID)
	if !msg.FromBot && a.cfg.ReplyChainDepth > 0 && !msg.IsDirect &&
		(msg.MentionsBot || replyToBot || (a.prefix != "" && strings.HasPrefix(msg.Text, a.prefix))) {
		msg.History = a.history(ctx, s, m, botID)
	}
	a.h.HandleMessage(ctx, msg, a.newReplier(s, m.ChannelID, m.GuildID, m.ID))
}

// translate fills a bot.Message from a Discord message. replyToBot says
// whether it replies to one of the bot's own messages.
func (a *Adapter) translate(m *discordgo.Message, botID string) (msg bot.Message, replyToBot bool) {
	text, mentioned := cleanContent(m, botID)
	msg = bot.Message{
		Platform:    Platform,
		ChatID:      bot.ChatID(m.ChannelID),
		MessageID:   bot.MessageID(m.ID),
		SenderID:    bot.UserID(m.Author.ID),
		SenderName:  displayName(m),
		Text:        text,
		IsDirect:    m.GuildID == "",
		MentionsBot: mentioned,
		FromBot:     m.Author.Bot || (botID != "" && m.Author.ID == botID),
		Time:        m.Timestamp,
	}
	if ref := replyRef(m); ref != nil {
		msg.ReplyTo = bot.MessageID(ref.MessageID)
		if rm := m.ReferencedMessage; rm != nil && rm.Author != nil && rm.Author.ID == botID {
			replyToBot = true
		}
	}
	return msg, replyToBot
}

// replyRef returns the reference of a reply in the same channel, or nil
// (forwards and other references are not replies).
func replyRef(m *discordgo.Message) *discordgo.MessageReference {
	ref := m.MessageReference
	if ref == nil || ref.MessageID == "" || m.Type != discordgo.MessageTypeReply {
		return nil
	}
	if ref.ChannelID != "" && ref.ChannelID != m.ChannelID {
		return nil
	}
	return ref
}

// cleanContent strips the bot's own mention from a message's text,
// replaces other user mentions with @name, and reports whether the bot was
// mentioned in the text. A reply's automatic ping is not a mention.
func cleanContent(m *discordgo.Message, botID string) (string, bool) {
	text := m.Content
	mentioned := false
	if botID != "" {
		for _, tok := range []string{"<@" + botID + ">", "<@!" + botID + ">"} {
			if strings.Contains(text, tok) {
				mentioned = true
				text = strings.ReplaceAll(text, tok, "")
			}
		}
	}
	for _, u := range m.Mentions {
		if u == nil || u.ID == botID {
			continue
		}
		name := "@" + u.Username
		if u.GlobalName != "" {
			name = "@" + u.GlobalName
		}
		text = strings.NewReplacer("<@"+u.ID+">", name, "<@!"+u.ID+">", name).Replace(text)
	}
	return strings.TrimSpace(text), mentioned
}

// displayName is the name a person shows in this chat.
func displayName(m *discordgo.Message) string {
	if m.Member != nil && m.Member.Nick != "" {
		return m.Member.Nick
	}
	if m.Author.GlobalName != "" {
		return m.Author.GlobalName
	}
	return m.Author.Username
}

// history is the conversation before m that Discord itself holds: its
// reply chain, else the thread it was posted in, oldest first; nil when
// neither applies (the core then uses its own session).
func (a *Adapter) history(ctx context.Context, s *discordgo.Session, m *discordgo.Message, botID string) []bot.Turn {
	if replyRef(m) != nil {
		return a.replyChain(ctx, s, m, botID)
	}
	if a.isThread(ctx, s, m.ChannelID) {
		return a.threadHistory(ctx, s, m, botID)
	}
	return nil
}

// replyChain follows the reply references back from m, up to
// ReplyChainDepth messages, fetching the ones the event did not carry. A
// deleted message ends the chain.
func (a *Adapter) replyChain(ctx context.Context, s *discordgo.Session, m *discordgo.Message, botID string) []bot.Turn {
	var chain []*discordgo.Message
	cur, ref := m.ReferencedMessage, replyRef(m)
	seen := map[string]bool{m.ID: true}
	for len(chain) < a.cfg.ReplyChainDepth && ref != nil && !seen[ref.MessageID] {
		seen[ref.MessageID] = true
		if cur == nil || cur.ID != ref.MessageID {
			got, err := s.ChannelMessage(m.ChannelID, ref.MessageID, discordgo.WithContext(ctx))
			if err != nil {
				if !isUnknownMessage(err) {
					a.log.Warn("reading the reply chain", "err", err)
				}
				break
			}
			cur = got
		}
		chain = append(chain, cur)
		ref = replyRef(cur)
		cur = cur.ReferencedMessage
	}
	slices.Reverse(chain)
	return turns(chain, botID)
}

// threadHistory reads the messages before m in its thread.
func (a *Adapter) threadHistory(ctx context.Context, s *discordgo.Session, m *discordgo.Message, botID string) []bot.Turn {
	limit := min(a.cfg.ReplyChainDepth, 100)
	msgs, err := s.ChannelMessages(m.ChannelID, limit, m.ID, "", "", discordgo.WithContext(ctx))
	if err != nil {
		a.log.Warn("reading the thread", "err", err)
		return nil
	}
	slices.Reverse(msgs) // Discord lists newest first
	return turns(msgs, botID)
}

// isThread reports whether a channel is a thread, from the state cache or
// one REST look-up, remembered.
func (a *Adapter) isThread(ctx context.Context, s *discordgo.Session, channelID string) bool {
	if v, ok := a.threads.get(channelID); ok {
		return v == "1"
	}
	ch, err := s.State.Channel(channelID)
	if err != nil {
		ch, err = s.Channel(channelID, discordgo.WithContext(ctx))
		if err != nil {
			a.log.Debug("looking up a channel", "err", err)
			return false
		}
	}
	v := "0"
	if ch.IsThread() {
		v = "1"
	}
	a.threads.put(channelID, v)
	return v == "1"
}

// turns turns messages into role/content turns: the bot's as assistant,
// everyone else's as user; consecutive turns of one role (an answer sent
// as several messages) are joined, empty ones dropped.
func turns(msgs []*discordgo.Message, botID string) []bot.Turn {
	var out []bot.Turn
	for _, m := range msgs {
		if m == nil || m.Author == nil {
			continue
		}
		role := bot.RoleUser
		text, _ := cleanContent(m, botID)
		if m.Author.ID == botID {
			role = bot.RoleAssistant
			text = stripLabel(m.Content)
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			sep := "\n\n"
			if role == bot.RoleAssistant {
				sep = "" // parts of one split answer
			}
			out[n-1].Content += sep + text
			continue
		}
		out = append(out, bot.Turn{Role: role, Content: text})
	}
	return out
}
