package wecom

import (
	"strings"

	"github.com/chatloop/chatloop/bot"
)

// templateCard is a button_interaction template card, as message/send and
// message/update_template_card take it.
type templateCard struct {
	CardType     string       `json:"card_type"`
	Source       *cardSource  `json:"source,omitempty"`
	MainTitle    cardTitle    `json:"main_title"`
	SubTitleText string       `json:"sub_title_text,omitempty"`
	TaskID       string       `json:"task_id"`
	ButtonList   []cardButton `json:"button_list"`
}

type cardSource struct {
	Desc string `json:"desc"`
}

type cardTitle struct {
	Title string `json:"title"`
	Desc  string `json:"desc,omitempty"`
}

type cardButton struct {
	Text  string `json:"text"`
	Style int    `json:"style"`
	Key   string `json:"key"`
}

// Button key prefixes: a key is prefix + answer id, so a press maps
// straight to a bot.Reaction{AnswerID: …}.
const (
	keyUp    = "cl:up:"
	keyDown  = "cl:down:"
	keyRegen = "cl:regen:"
	keyA     = "cl:A:"
	keyB     = "cl:B:"
)

// Button styles: 1 is highlighted, 2 plain.
const (
	styleChosen = 1
	stylePlain  = 2
)

var buttonKinds = []struct {
	prefix string
	kind   bot.ReactionKind
	text   string
	chosen string // what the card says once pressed
}{
	{keyUp, bot.ReactionUp, "👍", "你觉得这个回答很好 👍 (可以更改)"},
	{keyDown, bot.ReactionDown, "👎", "你觉得这个回答不好 👎 (可以更改)"},
	{keyRegen, bot.ReactionRegen, "🔄 换一个", "正在换一个回答 🔄"},
	{keyA, bot.ReactionChooseA, "选 A", "你选择了 A"},
	{keyB, bot.ReactionChooseB, "选 B", "你选择了 B"},
}

// parseKey reads a button key back into a reaction kind and answer id.
func parseKey(key string) (bot.ReactionKind, bot.AnswerID, bool) {
	for _, b := range buttonKinds {
		if id, ok := strings.CutPrefix(key, b.prefix); ok && id != "" {
			return b.kind, bot.AnswerID(id), true
		}
	}
	return 0, "", false
}

// taskID is the card's task id: unique per answer, at most 128 bytes of
// letters, digits, "_", "-" and "@".
func taskID(id bot.AnswerID) string {
	var b strings.Builder
	b.WriteString("cl-")
	for _, r := range string(id) {
		if b.Len() >= 128 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '@':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// voteCard is the card sent after an answer. chosen is the kind pressed
// so far (0: none); the card then says so and highlights that button, and
// keeps the buttons so that the vote can be changed.
func voteCard(id bot.AnswerID, label string, chosen bot.ReactionKind) templateCard {
	c := templateCard{
		CardType:  "button_interaction",
		Source:    &cardSource{Desc: "chatloop"},
		MainTitle: cardTitle{Title: "这个回答怎么样？", Desc: "Rate this answer"},
		TaskID:    taskID(id),
	}
	var prefixes []string
	switch label {
	case "A":
		c.MainTitle = cardTitle{Title: "回答 A", Desc: "Which answer is better?"}
		prefixes = []string{keyA}
	case "B":
		c.MainTitle = cardTitle{Title: "回答 B", Desc: "Which answer is better?"}
		prefixes = []string{keyB}
	default:
		prefixes = []string{keyUp, keyDown, keyRegen}
	}
	for _, p := range prefixes {
		for _, b := range buttonKinds {
			if b.prefix != p {
				continue
			}
			style := stylePlain
			if b.kind == chosen {
				style = styleChosen
				c.SubTitleText = b.chosen
			}
			c.ButtonList = append(c.ButtonList, cardButton{Text: b.text, Style: style, Key: p + string(id)})
		}
	}
	return c
}
