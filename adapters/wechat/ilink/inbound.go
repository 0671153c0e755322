package ilink

import (
	"strings"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// Platform is the platform name in bot.Message and the feedback store:
// both WeChat protocols report "wechat".
const Platform = "wechat"

// kind is what an incoming message turns into.
type kind int

const (
	kindIgnore   kind = iota
	kindMessage       // a question or command for the core
	kindReaction      // a vote, choice or regen request on an answer
	kindMedia         // a picture, file or video: answered with a notice
)

// inbound is one incoming iLink message, translated.
type inbound struct {
	kind     kind
	msg      bot.Message
	reaction bot.Reaction
	// from and contextToken are whom to answer and the conversation the
	// answer belongs to.
	from, contextToken string
}

// chatOf is the chat id of a private chat with user.
func chatOf(user string) bot.ChatID { return bot.ChatID("dm:" + user) }

// translate turns an iLink message into what the core takes. ours
// reports whether a server message id is one of the bot's answers, which
// picks how a quote is matched: by that id, else by the quoted text.
func translate(m weixinMessage, toks tokens, ours func(string) bool) inbound {
	if m.MessageType == messageTypeBot || strings.TrimSpace(m.FromUserID) == "" {
		return inbound{}
	}
	in := inbound{from: m.FromUserID, contextToken: m.ContextToken}
	chat := chatOf(m.FromUserID)
	sender := bot.UserID(m.FromUserID)

	body, media := bodyOf(m.ItemList)
	body = strings.TrimSpace(body)
	if body == "" {
		if !media {
			return inbound{}
		}
		in.kind = kindMedia
		return in
	}

	var replyTo bot.MessageID
	var quotedText string
	ref := refOf(m.ItemList)
	quoted := ref != nil
	if quoted {
		id := ref.SvrID
		if id == "" && ref.MessageItem != nil {
			id = ref.MessageItem.MsgID
		}
		quotedText = quotedTextOf(ref)
		if id != "" && (ours(string(id)) || quotedText == "") {
			replyTo = bot.MessageID(id)
		}
	}

	reaction := func(k bot.ReactionKind) inbound {
		in.kind = kindReaction
		in.reaction = bot.Reaction{Platform: Platform, ChatID: chat, UserID: sender, Kind: k}
		if replyTo != "" {
			in.reaction.MessageID = replyTo
		} else if quoted {
			in.reaction.QuotedText = quotedText
		}
		return in
	}
	switch toks.classify(body) {
	case intentUp:
		return reaction(bot.ReactionUp)
	case intentDown:
		return reaction(bot.ReactionDown)
	case intentRegen:
		if quoted {
			return reaction(bot.ReactionRegen)
		}
		body = "/regen" // the core's command: another answer to the last question
	case intentChooseA:
		if quoted {
			return reaction(bot.ReactionChooseA)
		}
	case intentChooseB:
		if quoted {
			return reaction(bot.ReactionChooseB)
		}
	}

	in.kind = kindMessage
	in.msg = bot.Message{
		Platform:   Platform,
		ChatID:     chat,
		MessageID:  bot.MessageID(messageIDOf(m)),
		SenderID:   sender,
		Text:       body,
		IsDirect:   true,
		ReplyTo:    replyTo,
		QuotedText: quotedText,
	}
	if replyTo != "" {
		in.msg.QuotedText = ""
	}
	if m.CreateTimeMS > 0 && m.CreateTimeMS < 1<<53 {
		in.msg.Time = time.UnixMilli(m.CreateTimeMS)
	}
	return in
}

// bodyOf is the text of a message, as the reference reads it: the first
// text item, or the transcription of a voice message. media reports a
// picture, file, video or untranscribed voice message without text.
func bodyOf(items []messageItem) (body string, media bool) {
	for _, it := range items {
		switch it.Type {
		case itemText:
			if it.TextItem != nil {
				return it.TextItem.Text, false
			}
		case itemVoice:
			if it.VoiceItem != nil && strings.TrimSpace(it.VoiceItem.Text) != "" {
				return it.VoiceItem.Text, false
			}
			media = true
		case itemImage, itemFile, itemVideo:
			media = true
		}
	}
	return "", media
}

// refOf is the quote of a quote-reply, if the message is one.
func refOf(items []messageItem) *refMessage {
	for _, it := range items {
		if it.RefMsg != nil {
			return it.RefMsg
		}
	}
	return nil
}

// quotedTextOf is the text of a quoted message without the 【A】/【B】
// label the bot puts before A/B answers; the quote's title when the
// quoted message itself is absent.
func quotedTextOf(ref *refMessage) string {
	text := ""
	if ref.MessageItem != nil {
		text, _ = bodyOf([]messageItem{*ref.MessageItem})
	}
	if strings.TrimSpace(text) == "" {
		text = ref.Title
	}
	return stripLabel(text)
}

// messageIDOf is the message's id: the top-level one, else the first
// item's.
func messageIDOf(m weixinMessage) string {
	if m.MessageID != "" {
		return string(m.MessageID)
	}
	for _, it := range m.ItemList {
		if it.MsgID != "" {
			return string(it.MsgID)
		}
	}
	return ""
}

// stripLabel removes the 【A】/【B】 label of an A/B answer.
func stripLabel(s string) string {
	s = strings.TrimSpace(s)
	for _, l := range []string{"【A】", "【B】"} {
		if rest, ok := strings.CutPrefix(s, l); ok {
			return strings.TrimSpace(rest)
		}
	}
	return s
}
