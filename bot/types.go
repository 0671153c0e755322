// Package bot is the conversation core: it decides when to answer, keeps
// per-chat sessions, runs commands, applies limits and safety rules, asks a
// Generator for the answer, streams it back through the adapter and records
// everything in the feedback store.
//
// The package imports nothing else of chatloop's. It declares the small
// interfaces it consumes (Generator, FeedbackStore, TokenCounter) and the
// ones adapters implement (Replier and its optional extensions).
package bot

import (
	"context"
	"errors"
	"time"

	"github.com/chatloop/chatloop/model/chat"
)

// Typed identifiers keep platform ids from being mixed up.
type (
	// ChatID names a conversation on a platform: a DM, a group, a channel.
	ChatID string
	// MessageID names one platform message.
	MessageID string
	// UserID names a person (or bot) on a platform.
	UserID string
	// AnswerID names one answer in the feedback store (time-sortable).
	AnswerID string
	// GroupID names a prompt group: every answer to the identical prompt.
	GroupID string
)

// Message is one incoming platform message, translated by an adapter.
type Message struct {
	Platform   string // "discord", "wechat", "console", ...
	ChatID     ChatID
	MessageID  MessageID
	SenderID   UserID
	SenderName string
	Text       string

	IsDirect    bool // a private chat with the bot
	MentionsBot bool // the bot was @mentioned; the adapter has already stripped the mention text
	FromBot     bool // sent by the bot itself or another bot: never answered

	// ReplyTo is the platform id of the message this one replies to or
	// quotes, when the platform says so.
	ReplyTo MessageID
	// QuotedText is the quoted text of a quote-reply when the platform gives
	// only text (WeChat's 「Name：…」 block), used to find the quoted answer.
	QuotedText string

	// History is earlier conversation the platform itself provides (a
	// Discord reply chain or thread), oldest first. When set, it replaces
	// the session's stored history for this turn.
	History []Turn

	// Time is when the platform says the message was sent (zero: now).
	Time time.Time
}

// Turn is one role/content message, as the model sees it: chatloop's one
// message type, shared with the model and the feedback store.
type Turn = chat.Message

// Roles used in turns.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = chat.RoleTool
)

// ReactionKind says what a reaction means.
type ReactionKind int

// Reaction kinds.
const (
	ReactionUp      ReactionKind = iota + 1 // 👍, [强], /good
	ReactionDown                            // 👎, [弱], /bad
	ReactionRegen                           // 🔄, /regen, 换一个
	ReactionChooseA                         // 🅰️, "A" in A/B mode
	ReactionChooseB                         // 🅱️, "B" in A/B mode
)

// Reaction is feedback on an answer, translated by an adapter: a platform
// reaction, a button press, or a thumbs message.
type Reaction struct {
	Platform string
	ChatID   ChatID
	UserID   UserID
	Kind     ReactionKind
	Removed  bool // the reaction was taken back
	FromBot  bool // the bot's own (or another bot's) reaction: never a vote

	// Which answer it is about, most specific first: the answer id when the
	// platform carries it (a button), else the platform message it is on,
	// else quoted text of that answer, else the latest answer to UserID in
	// ChatID.
	AnswerID   AnswerID
	MessageID  MessageID
	QuotedText string
}

// Outgoing describes one answer the core asks an adapter to show.
type Outgoing struct {
	AnswerID AnswerID
	// Label is "A" or "B" for the alternatives of an A/B comparison, else "".
	Label string
	// Feedback is true when the adapter should offer its vote controls
	// (reactions, buttons) on this answer.
	Feedback bool
	// Sent must be called with the platform id of every message the answer
	// is shown as, as soon as that message exists (before later edits), so
	// that a vote on it is never lost.
	Sent func(MessageID)
}

// Replier shows the core's output for one incoming message. The adapter
// makes one per message it hands to the core.
type Replier interface {
	// Send shows a short notice (command output, refusal, busy): not an
	// answer, never voted on.
	Send(ctx context.Context, text string) error
	// Stream shows an answer as its tokens arrive on tokens, which the core
	// closes when the answer is complete. It returns when everything is
	// shown or ctx is done.
	Stream(ctx context.Context, out Outgoing, tokens <-chan string) error
}

// Completer is an optional Replier extension: Complete is called once when
// the core has finished with the message or reaction the Replier was given
// with, whether it answered, refused, or ignored it. Terminal and scripted
// front ends use it to know when to read the next line.
type Completer interface {
	Complete()
}

// Failer is an optional Replier extension: Fail is called, before the
// notice the asker sees, when the core could not answer the message: the
// generator failed before any text (a refused API key, an unknown model)
// or the message cannot fit in the context window (ErrTooLong). A
// one-shot front end turns it into its exit status.
type Failer interface {
	Fail(err error)
}

// Typer is an optional Replier extension: a "typing…" indicator shown while
// the answer is being prepared.
type Typer interface {
	Typing(ctx context.Context) error
}

// Request is what the core asks a Generator for.
type Request struct {
	Messages  []Turn
	Sampling  Sampling
	MaxTokens int
	Stop      []string
	// Version, when not nil, chooses the model version that answers (an
	// A/B between versions, [bot] ab_adapters); nil is the generator's
	// default version.
	Version *VersionChoice
	// Tools are the tools the model may call for this answer (none: plain
	// chat). A generator that cannot call tools ignores them.
	Tools []chat.Tool
}

// VersionChoice names one entry of [bot] ab_adapters: the LoRA adapter
// file to answer with, or "" for the base model alone.
type VersionChoice struct {
	Adapter string
}

// Base reports whether the choice is the base model alone.
func (v VersionChoice) Base() bool { return v.Adapter == "" }

// Sampling holds sampling parameters. Zero values mean the backend default,
// except Temperature, where Greedy selects 0.
type Sampling struct {
	Temperature   float64 `json:"temperature" toml:"temperature"`
	TopK          int     `json:"top_k" toml:"top_k"`
	TopP          float64 `json:"top_p" toml:"top_p"`
	MinP          float64 `json:"min_p" toml:"min_p"`
	RepeatPenalty float64 `json:"repeat_penalty" toml:"repeat_penalty"`
	Seed          uint64  `json:"seed" toml:"seed"`
}

// ModelInfo identifies the model that wrote an answer.
type ModelInfo struct {
	Backend      string `json:"backend"`                // "local", "openai", "demo"
	Name         string `json:"name"`                   // model name
	SHA256       string `json:"sha256,omitempty"`       // GGUF file digest (local)
	Quantization string `json:"quantization,omitempty"` // e.g. "Q8_0"
	Template     string `json:"template,omitempty"`     // chat template name
	// Adapters are the LoRA adapters served with the base for this
	// answer, in order (none: the base alone).
	Adapters []AdapterVersion `json:"adapters,omitempty"`
}

// AdapterVersion identifies one LoRA adapter an answer was written with.
type AdapterVersion struct {
	SHA256 string  `json:"sha256"` // of the adapter file
	Scale  float32 `json:"scale"`
	Short  string  `json:"short"` // "+tuned-3f2a"
}

// IsZero reports whether m names no model.
func (m ModelInfo) IsZero() bool {
	return m.Backend == "" && m.Name == "" && m.SHA256 == "" && m.Quantization == "" && m.Template == "" && len(m.Adapters) == 0
}

// Result is a finished generation.
type Result struct {
	Text         string
	PromptTokens int
	AnswerTokens int
	// Truncated is true when the answer was cut short: max tokens, context
	// full, or cancelled.
	Truncated bool
	Model     ModelInfo
	// Sampling, when not nil, is what the backend actually used of the
	// request's sampling parameters (a remote server is sent only some of
	// them); the answer records it instead of the request's.
	Sampling *Sampling
	// ToolCalls, when not empty, are the tools the model asked to call
	// instead of (or after) writing Text: the core runs them, appends the
	// assistant's call and the results to the messages and asks again. The
	// call's own markup never reaches onToken.
	ToolCalls []chat.ToolCall
}

// Generator produces answers. The local engine and remote backends satisfy
// it (through small bridges in cmd/chatloop).
type Generator interface {
	// Generate writes the answer to req, calling onToken with each piece of
	// text as it is produced. It honours ctx cancellation.
	Generate(ctx context.Context, req Request, onToken func(string)) (Result, error)
}

// TokenCounter counts tokens with the model's own tokenizer, for trimming
// history to a budget.
type TokenCounter interface {
	CountTokens(text string) int
}

// PromptCounter is an optional TokenCounter extension: the exact number of
// tokens a prompt becomes through the model's chat template, with the
// opening of the assistant's turn. Without it the core estimates the
// template's tokens around each message.
type PromptCounter interface {
	CountPromptTokens(prompt []Turn) int
}

// Answer is everything recorded about one answer.
type Answer struct {
	ID       AnswerID  `json:"id"`
	GroupID  GroupID   `json:"group_id"`
	Platform string    `json:"platform"`
	ChatID   ChatID    `json:"chat_id"`
	AskerID  UserID    `json:"asker_id"` // raw id in memory; stores hash it
	Created  time.Time `json:"created"`

	// Prompt is the exact role/content messages the model saw.
	Prompt []Turn `json:"prompt"`
	// Tools are the tools the model was offered (none: plain chat).
	Tools []chat.Tool `json:"tools,omitempty"`
	// Steps are the tool rounds of this answer, in order, between Prompt
	// and Text: each assistant message with its ToolCalls, then one "tool"
	// message per call with its (truncated) result, exactly as the model
	// saw them.
	Steps    []Turn    `json:"steps,omitempty"`
	Text     string    `json:"text"`
	Label    string    `json:"label,omitempty"` // "A"/"B" in an A/B comparison
	Sampling Sampling  `json:"sampling"`
	Model    ModelInfo `json:"model"`

	PromptTokens int           `json:"prompt_tokens"`
	AnswerTokens int           `json:"answer_tokens"`
	Latency      time.Duration `json:"latency"`
	Truncated    bool          `json:"truncated"`
	Finished     bool          `json:"finished"`
	// Score is an optional reward-model score (best-of-n candidates).
	Score *float64 `json:"score,omitempty"`
	// Sent is false for candidates that were generated but not shown.
	Sent bool `json:"sent"`

	// MessageIDs are the platform messages the answer was shown as.
	MessageIDs []MessageID `json:"message_ids,omitempty"`
}

// FeedbackStore is what the core needs from the feedback store. Raw user
// ids passed in are hashed by the store, never kept.
type FeedbackStore interface {
	// RecordAnswer stores a new answer before it is sent.
	RecordAnswer(ctx context.Context, a Answer) error
	// FinishAnswer stores the final text and statistics of an answer.
	FinishAnswer(ctx context.Context, a Answer) error
	// MapMessage records that platform message msg shows answer id.
	MapMessage(ctx context.Context, platform string, msg MessageID, id AnswerID) error
	// AnswerByMessage finds the answer a platform message shows.
	AnswerByMessage(ctx context.Context, platform string, msg MessageID) (AnswerID, error)
	// Answer reads one answer.
	Answer(ctx context.Context, id AnswerID) (Answer, error)
	// Vote records value +1 or -1 by voter on an answer, replacing the
	// voter's earlier vote; value 0 removes it.
	Vote(ctx context.Context, id AnswerID, platform string, voter UserID, value int) error
	// Choose records an A/B choice by voter: winner preferred over loser.
	// Only a voter's first choice on a comparison counts.
	Choose(ctx context.Context, winner, loser AnswerID, platform string, voter UserID) error
	// RecentAnswers lists the answers in a chat created at or after since,
	// newest first, at most limit of them. A non-empty asker keeps only the
	// answers to that person's questions.
	RecentAnswers(ctx context.Context, platform string, chat ChatID, asker UserID, since time.Time, limit int) ([]Answer, error)
}

// ErrNotFound is returned (wrapped) by stores when an answer or message is
// unknown.
var ErrNotFound = errors.New("not found")

// Handler is what adapters hand platform events to. The core implements it.
// Both calls return quickly: the work is queued, and its output goes
// through the Replier.
type Handler interface {
	// HandleMessage takes one incoming message.
	HandleMessage(ctx context.Context, m Message, r Replier)
	// HandleReaction takes one reaction, vote or choice. r is used for
	// what it triggers (an alternative answer for ReactionRegen) and may
	// be nil when nothing should be shown.
	HandleReaction(ctx context.Context, x Reaction, r Replier)
	// Withdraw cancels the handling of a message its author deleted.
	Withdraw(platform string, chat ChatID, msg MessageID)
}
