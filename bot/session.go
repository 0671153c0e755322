package bot

import (
	"time"
	"unicode/utf8"
)

// sessionKey names a session: one per (platform, chat) in direct chats and
// shared groups, one per (platform, chat, user) otherwise.
type sessionKey struct {
	platform string
	chat     ChatID
	user     UserID
}

// session is one conversation's state. Its fields are touched only by the
// worker that holds the session (see queue.go), except lastUsed, guarded by
// the core's mutex.
type session struct {
	key     sessionKey
	history []Turn // user/assistant turns, oldest first, no system prompt

	// The last answer (or A/B pair) shown in this session.
	last     AnswerID
	lastPair [2]AnswerID // A and B, when the last answer was a comparison

	// queue state, guarded by Core.mu
	pending  []*job
	running  bool
	lastUsed time.Time
}

// estimateTokens is used when no tokenizer is available: about three
// characters per token for mixed Latin and CJK text.
func estimateTokens(s string) int {
	return utf8.RuneCountInString(s)/3 + 1
}

// perMessageTokens approximates the chat template's tokens around each
// message (role markers, separators).
const perMessageTokens = 4

// trimHistory returns the longest suffix of history that, with system and
// the new turn, fits in budget tokens. The system prompt and the new turn
// are always kept; the result never starts with an assistant turn.
func trimHistory(count func(string) int, system string, history []Turn, next Turn, budget int) []Turn {
	used := count(system) + perMessageTokens + count(next.Content) + perMessageTokens
	start := len(history)
	for i := len(history) - 1; i >= 0; i-- {
		c := count(history[i].Content) + perMessageTokens
		if used+c > budget {
			break
		}
		used += c
		start = i
	}
	for start < len(history) && history[start].Role != RoleUser {
		start++
	}
	return history[start:]
}
