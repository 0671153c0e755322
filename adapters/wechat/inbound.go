package wechat

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eatmoreapple/openwechat"

	"github.com/chatloop/chatloop/bot"
)

// staleAfter drops messages older than this, which WeChat may deliver in
// a backlog after a login.
const staleAfter = 5 * time.Minute

// onMessage translates one WeChat message for the handler. It runs on
// openwechat's sync goroutine, so it must not block: the handler queues
// work and notices are sent from their own goroutine.
func (a *Adapter) onMessage(ctx context.Context, m *openwechat.Message) {
	if !a.enter() {
		return
	}
	defer a.inflight.Done()
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("panic while handling a WeChat message", "panic", p)
		}
	}()
	if !a.mem.firstSight(m.MsgId) {
		return
	}
	if m.CreateTime > 0 && time.Since(time.Unix(m.CreateTime, 0)) > staleAfter {
		a.log.Debug("old message from a backlog ignored", "type", int(m.MsgType))
		return
	}
	switch {
	case m.IsSendBySelf():
		// The account's own messages, from this bot or the phone.
		return
	case m.IsRecalled():
		a.withdraw(m)
	case m.IsFriendAdd():
		a.log.Info("friend request received; it is not accepted automatically (accept it on the phone)")
	case m.IsSystem(), m.StatusNotify(), m.IsSysNotice():
		a.log.Debug("system notice ignored", "type", int(m.MsgType))
	case m.IsTransferAccounts(), m.IsMedia():
		a.log.Debug("app message (transfer, red packet, link, file) ignored", "app_type", int(m.AppMsgType))
	case m.IsPicture(), m.IsVoice(), m.IsVideo():
		a.media(ctx, m)
	case m.IsText():
		a.text(m)
	default:
		a.log.Debug("message type not handled", "type", int(m.MsgType))
	}
}

// media answers pictures, voice and video in private chats with a short
// notice that only text is understood.
func (a *Adapter) media(ctx context.Context, m *openwechat.Message) {
	if m.IsComeFromGroup() || !a.cfg.PrivateChats || a.cfg.MediaReply == "" {
		return
	}
	sender, err := m.Sender()
	if err != nil || !sender.IsFriend() || sender.IsMP() {
		return
	}
	r := &replier{a: a, chat: chatOfFriend(sender), to: sender.UserName, asker: identity(sender, nil)}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := r.Send(ctx, a.cfg.MediaReply); err != nil && ctx.Err() == nil {
			a.log.Warn("sending the text-only notice", "err", err)
		}
	}()
}

// withdraw tells the handler that a message was recalled by its author.
func (a *Adapter) withdraw(m *openwechat.Message) {
	rv, err := m.RevokeMsg()
	if err != nil {
		return
	}
	chat, ok := a.chatOf(m)
	if !ok {
		return
	}
	a.h.Withdraw(Platform, chat, bot.MessageID(strconv.FormatInt(rv.RevokeMsg.MsgId, 10)))
}

// chatOf returns the chat id of a message's conversation.
func (a *Adapter) chatOf(m *openwechat.Message) (bot.ChatID, bool) {
	sender, err := m.Sender()
	if err != nil {
		return "", false
	}
	if m.IsComeFromGroup() {
		return chatOfGroup(sender), true
	}
	return chatOfFriend(sender), true
}

// inbound is a text message, translated.
type inbound struct {
	chat      bot.ChatID
	to        string // user name to answer to: the group or the friend
	sender    bot.UserID
	name      string // how the sender is shown (and @mentioned in groups)
	group     bool
	mentioned bool
	botNames  []string // the account's names in this chat
}

// text translates a text message into a bot.Message or a bot.Reaction.
func (a *Adapter) text(m *openwechat.Message) {
	in, ok := a.who(m)
	if !ok {
		return
	}
	body := m.Content
	q, quoted := parseQuote(body)
	if quoted {
		body = q.Reply
	}
	if in.group {
		var found bool
		body, found = stripMention(body, in.botNames)
		in.mentioned = found || (m.IsAt() && !quoted)
	} else {
		body = strings.TrimSpace(body)
	}

	var replyTo bot.MessageID
	var quotedText string
	if quoted {
		_, qt := splitQuoteBlock(q.Block, in.botNames)
		if id, ok := a.mem.match(in.chat, qt); ok {
			replyTo = id
		}
		quotedText = strings.TrimSpace(stripLabel(leadingMention(qt)))
	}

	r := &replier{a: a, chat: in.chat, to: in.to, asker: in.sender}
	if in.group {
		r.mention = "@" + in.name + "\u2005"
	}
	reaction := func(kind bot.ReactionKind) {
		x := bot.Reaction{Platform: Platform, ChatID: in.chat, UserID: in.sender, Kind: kind}
		if quoted {
			x.MessageID, x.QuotedText = replyTo, quotedText
			if replyTo != "" {
				x.QuotedText = ""
			}
		}
		a.h.HandleReaction(context.Background(), x, r)
	}

	addressed := !in.group || in.mentioned
	switch kind := a.toks.classify(body); kind {
	case intentUp:
		reaction(bot.ReactionUp)
		return
	case intentDown:
		reaction(bot.ReactionDown)
		return
	case intentRegen:
		if quoted || !addressed {
			reaction(bot.ReactionRegen)
			return
		}
		body = "/regen" // the core's command: another answer to the last question
	case intentChooseA, intentChooseB:
		choice := bot.ReactionChooseA
		if kind == intentChooseB {
			choice = bot.ReactionChooseB
		}
		if quoted || (!addressed && a.mem.choosing(in.chat, in.sender)) {
			reaction(choice)
			return
		}
		// Addressed: the core knows the session's pending comparison.
	}

	msg := bot.Message{
		Platform:    Platform,
		ChatID:      in.chat,
		MessageID:   bot.MessageID(m.MsgId),
		SenderID:    in.sender,
		SenderName:  in.name,
		Text:        body,
		IsDirect:    !in.group,
		MentionsBot: in.group && in.mentioned,
		ReplyTo:     replyTo,
		QuotedText:  quotedText,
	}
	if m.CreateTime > 0 {
		msg.Time = time.Unix(m.CreateTime, 0)
	}
	a.h.HandleMessage(context.Background(), msg, r)
}

// who finds the chat and sender of a text message, and whether the
// adapter should look at it at all.
func (a *Adapter) who(m *openwechat.Message) (inbound, bool) {
	self := m.Owner()
	if m.IsComeFromGroup() {
		if !a.cfg.Groups {
			return inbound{}, false
		}
		g, err := m.Sender()
		if err != nil {
			a.log.Warn("looking up the group of a message", "err", err)
			return inbound{}, false
		}
		if len(a.cfg.AllowedGroups) > 0 && !slices.Contains(a.cfg.AllowedGroups, g.NickName) {
			return inbound{}, false
		}
		member, err := m.SenderInGroup()
		if err != nil {
			a.log.Warn("looking up the sender of a group message", "err", err)
			return inbound{}, false
		}
		if member.UserName == self.UserName {
			return inbound{}, false
		}
		contacts, _ := self.Members()
		if a.blocked(identity(member, contacts)) {
			return inbound{}, false
		}
		in := inbound{
			chat:     chatOfGroup(g),
			to:       g.UserName,
			sender:   identity(member, contacts),
			name:     firstNonEmpty(member.DisplayName, member.NickName, "?"),
			group:    true,
			botNames: []string{self.NickName},
		}
		if me := g.MemberList.SearchByUserName(1, self.UserName); me.Count() > 0 {
			if dn := me.First().DisplayName; dn != "" && dn != self.NickName {
				in.botNames = append([]string{dn}, in.botNames...)
			}
		}
		return in, true
	}
	if !a.cfg.PrivateChats {
		return inbound{}, false
	}
	sender, err := m.Sender()
	if err != nil {
		a.log.Warn("looking up the sender of a message", "err", err)
		return inbound{}, false
	}
	if sender.IsMP() || !sender.IsFriend() || sender.UserName == openwechat.FileHelper || a.blocked(identity(sender, nil)) {
		return inbound{}, false
	}
	return inbound{
		chat:     chatOfFriend(sender),
		to:       sender.UserName,
		sender:   identity(sender, nil),
		name:     firstNonEmpty(sender.RemarkName, sender.NickName, "?"),
		botNames: []string{self.NickName},
	}, true
}

// identity is the id a person is known by across logins (WeChat's user
// names change with every QR login): the remark name the account gave them,
// which only the account's owner can set, else "~" and their self-chosen
// nickname, else the session user name.
func identity(u *openwechat.User, contacts openwechat.Members) bot.UserID {
	remark := u.RemarkName
	if remark == "" && contacts != nil {
		if c, ok := contacts.GetByUserName(u.UserName); ok {
			remark = c.RemarkName
		}
	}
	switch {
	case remark != "":
		return bot.UserID(remark)
	case u.NickName != "":
		return bot.UserID("~" + u.NickName)
	}
	return bot.UserID(u.UserName)
}

// chatOfGroup is a group's chat id: "group:" and its name, which survives
// logins, else its session user name.
func chatOfGroup(g *openwechat.User) bot.ChatID {
	if g.NickName != "" {
		return bot.ChatID("group:" + g.NickName)
	}
	return bot.ChatID(g.UserName)
}

// chatOfFriend is a private chat's id: "dm:" and the friend's identity.
func chatOfFriend(u *openwechat.User) bot.ChatID {
	return bot.ChatID("dm:" + string(identity(u, nil)))
}

// stripLabel removes the 【A】/【B】 label the bot puts before A/B answers.
func stripLabel(s string) string {
	s = strings.TrimSpace(s)
	for _, l := range []string{"【A】", "【B】"} {
		if rest, ok := strings.CutPrefix(s, l); ok {
			return rest
		}
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// blocked reports whether the person with this id is in blocked_users.
func (a *Adapter) blocked(id bot.UserID) bool {
	return slices.Contains(a.cfg.BlockedUsers, string(id))
}
