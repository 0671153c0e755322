package bot

import "strings"

// command is a chat command the core understands.
type command int

const (
	cmdNone command = iota
	cmdHelp
	cmdReset
	cmdRegen
	cmdGood
	cmdBad
	cmdPersona
	cmdOptOut
	cmdOptIn
	cmdSources
)

// commandWords maps every spelling, English and Chinese, to its command.
var commandWords = map[string]command{
	"/help": cmdHelp, "/帮助": cmdHelp,
	"/reset": cmdReset, "/重置": cmdReset,
	"/regen": cmdRegen, "/重新生成": cmdRegen, "换一个": cmdRegen,
	"/good": cmdGood, "/赞": cmdGood, "/好": cmdGood,
	"/bad": cmdBad, "/踩": cmdBad, "/差": cmdBad,
	"/persona": cmdPersona, "/人设": cmdPersona,
	"/optout": cmdOptOut, "/退出": cmdOptOut,
	"/optin": cmdOptIn, "/加入": cmdOptIn,
	"/sources": cmdSources, "/来源": cmdSources,
}

// parseCommand recognises a command only as the whole first word of the
// message, so that quoted text or model output mentioning one never
// triggers it. It returns the command and the text after it.
func parseCommand(text string) (command, string) {
	t := strings.TrimLeft(text, " \t\n")
	word, rest, _ := strings.Cut(t, " ")
	if i := strings.IndexAny(word, "\n\t"); i >= 0 {
		word, rest = word[:i], t[i+1:]
	}
	c, ok := commandWords[strings.ToLower(word)]
	if !ok {
		return cmdNone, ""
	}
	return c, strings.TrimSpace(rest)
}

const helpEN = `Commands:
/help      this help
/reset     forget our conversation
/regen     another answer to your last question
/good      the last answer was good (👍)
/bad       the last answer was bad (👎)
/persona   show or (admins) set this chat's system prompt: /persona <text>, /persona reset
/optout    stop recording your messages and votes, and forget your votes
/optin     record them again
/sources   the sources of the last answer here (when it used tools)`

const helpZH = `命令：
/帮助      显示帮助
/重置      清空对话
/重新生成  换一个回答（也可以说“换一个”）
/赞        上一个回答很好 (👍)
/踩        上一个回答不好 (👎)
/人设      查看或（管理员）设置本群的系统提示：/人设 <文本>，/人设 reset
/退出      不再记录你的消息和评价，并删除你的评价
/加入      重新开始记录
/来源      上一个回答引用的来源（使用了工具时）`
