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

// assistantOpening approximates the template's tokens that open the
// assistant's answer.
const assistantOpening = 3

// buildPrompt is the system prompt, then history, then the new turn.
func buildPrompt(system string, history []Turn, next Turn) []Turn {
	prompt := make([]Turn, 0, len(history)+2)
	prompt = append(prompt, Turn{Role: RoleSystem, Content: system})
	prompt = append(prompt, history...)
	return append(prompt, next)
}

// dropOldestExchange removes history's oldest turn and any assistant turns
// that would then lead it, so that it still starts with a user turn.
func dropOldestExchange(history []Turn) []Turn {
	if len(history) == 0 {
		return history
	}
	history = history[1:]
	for len(history) > 0 && history[0].Role != RoleUser {
		history = history[1:]
	}
	return history
}

// promptTokens counts prompt's tokens as the model will see them: exactly
// when the counter knows the chat template, else estimated.
func (c *Core) promptTokens(prompt []Turn) int {
	if pc, ok := c.opts.Counter.(PromptCounter); ok {
		return pc.CountPromptTokens(prompt)
	}
	n := assistantOpening
	for _, t := range prompt {
		n += c.countTokens(t.Content) + perMessageTokens
	}
	return n
}

// promptWindow is how many tokens a prompt may take so that the answer's
// MaxTokens still fit in the context window; 0 when the window is unknown.
func (c *Core) promptWindow() int {
	if c.opts.ContextTokens <= 0 {
		return 0
	}
	return c.opts.ContextTokens - c.opts.MaxTokens
}

// fitPrompt builds the prompt for next: the system prompt, as much recent
// history as history_tokens allows, and next. When the context window is
// known, the oldest turns go first until the prompt plus MaxTokens fits in
// it; ok is false when even the system prompt and next alone do not fit
// (the returned prompt is then that minimal one). reserve is taken off the
// window for what the prompt holds besides its messages (tools offered).
func (c *Core) fitPrompt(system string, history []Turn, next Turn, reserve int) (prompt, kept []Turn, ok bool) {
	budget := c.cfg.HistoryTokens
	window := c.promptWindow()
	if window > 0 {
		window = max(window-reserve, 1)
		budget = min(budget, window)
	}
	history = trimHistory(c.countTokens, system, history, next, budget)
	prompt = buildPrompt(system, history, next)
	if window <= 0 {
		return prompt, history, true
	}
	for c.promptTokens(prompt) > window {
		if len(history) == 0 {
			return prompt, history, false
		}
		history = dropOldestExchange(history)
		prompt = buildPrompt(system, history, next)
	}
	return prompt, history, true
}
