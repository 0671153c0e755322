package bot

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Config is the [bot] section of chatloop.toml.
type Config struct {
	// SystemPrompt is the default system prompt of every chat.
	SystemPrompt string `toml:"system_prompt"`
	// Prefix triggers an answer in a group when a message starts with it.
	Prefix string `toml:"prefix"`
	// SharedGroupSession makes one session per group instead of one per
	// (group, user).
	SharedGroupSession bool `toml:"shared_group_session"`
	// HistoryTokens is the token budget of a session's history, system
	// prompt included.
	HistoryTokens int `toml:"history_tokens"`
	// SessionIdle is how long an idle session lives.
	SessionIdle Duration `toml:"session_idle"`
	// MaxInputChars refuses longer messages.
	MaxInputChars int `toml:"max_input_chars"`
	// Workers is how many answers are generated at once.
	Workers int `toml:"workers"`
	// QueueSize bounds the messages waiting for a worker.
	QueueSize int `toml:"queue_size"`
	// RatePerMinute and RateBurst set each user's token bucket.
	RatePerMinute float64 `toml:"rate_per_minute"`
	RateBurst     int     `toml:"rate_burst"`
	// Admins lists "platform:id" of the people who may use admin commands.
	Admins []string `toml:"admins"`
	// ABProbability is the chance that an answer comes as two alternatives,
	// A and B, for the asker to choose from.
	ABProbability float64 `toml:"ab_probability"`
	// ABAdapters, when it lists two or more versions, makes an A/B offer
	// compare two of them (drawn at random, shown in random order) instead
	// of two samples of one: each entry is a LoRA adapter file served with
	// the base, or "" for the base alone. Needs the local backend.
	ABAdapters []string `toml:"ab_adapters"`
	// VoteWindow is how long an unquoted thumbs message votes on the last
	// answer to its sender.
	VoteWindow Duration `toml:"vote_window"`
	// GroupNotice is appended, once per group chat, to the first answer
	// there: it says that reactions are collected and how to opt out. The
	// store remembers which groups were told. "" turns it off.
	GroupNotice string `toml:"group_notice"`
	// Refusals are rules checked before the model runs.
	Refusals []RefusalRule `toml:"refusals"`
}

// RefusalRule refuses messages that contain any keyword or match any
// regular expression.
type RefusalRule struct {
	Category string   `toml:"category"`
	Keywords []string `toml:"keywords"`
	Patterns []string `toml:"patterns"`
	// Reply overrides the polite refusal (English); ReplyZH the Chinese one.
	Reply   string `toml:"reply"`
	ReplyZH string `toml:"reply_zh"`
}

// Duration is a time.Duration written as "30m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\" or \"10m\": %w", err)
	}
	d.Duration = v
	return nil
}

// MarshalText writes a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// DefaultConfig returns every key's default.
func DefaultConfig() Config {
	return Config{
		SystemPrompt:  "You are a helpful assistant in a group chat. Answer concisely, in the language of the question.",
		Prefix:        "/ask ",
		HistoryTokens: 2048,
		SessionIdle:   Duration{30 * time.Minute},
		MaxInputChars: 4000,
		Workers:       4,
		QueueSize:     16,
		RatePerMinute: 6,
		RateBurst:     3,
		VoteWindow:    Duration{10 * time.Minute},
		GroupNotice:   DefaultGroupNotice,
	}
}

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	switch {
	case c.HistoryTokens < 64:
		return fmt.Errorf("key history_tokens: %d is below 64", c.HistoryTokens)
	case c.Workers < 1 || c.Workers > MaxWorkers:
		return fmt.Errorf("key workers: %d is not between 1 and %d", c.Workers, MaxWorkers)
	case c.QueueSize < 1 || c.QueueSize > MaxQueueSize:
		return fmt.Errorf("key queue_size: %d is not between 1 and %d", c.QueueSize, MaxQueueSize)
	case c.MaxInputChars < 1:
		return fmt.Errorf("key max_input_chars: %d must be at least 1", c.MaxInputChars)
	case c.RatePerMinute < 0 || math.IsNaN(c.RatePerMinute) || math.IsInf(c.RatePerMinute, 0):
		return fmt.Errorf("key rate_per_minute: %v is not a number of 0 or more", c.RatePerMinute)
	case c.RateBurst < 0:
		return fmt.Errorf("key rate_burst: %d is negative", c.RateBurst)
	case !(c.ABProbability >= 0 && c.ABProbability <= 1): // NaN too
		return fmt.Errorf("key ab_probability: %v is not between 0 and 1", c.ABProbability)
	case c.VoteWindow.Duration < 0:
		return fmt.Errorf("key vote_window: %v is negative", c.VoteWindow.Duration)
	case c.SessionIdle.Duration <= 0:
		return fmt.Errorf("key session_idle: must be positive")
	}
	if len(c.ABAdapters) == 1 {
		return fmt.Errorf("key ab_adapters: one version (%q) has nothing to be compared with; list two or more, \"\" for the base alone", c.ABAdapters[0])
	}
	for i, a := range c.ABAdapters {
		for _, b := range c.ABAdapters[:i] {
			if a == b {
				return fmt.Errorf("key ab_adapters: %q is listed twice", a)
			}
		}
	}
	for _, a := range c.Admins {
		if p, id, ok := strings.Cut(a, ":"); !ok || p == "" || id == "" {
			return fmt.Errorf("key admins: %q is not platform:id", a)
		}
	}
	for i, r := range c.Refusals {
		for _, p := range r.Patterns {
			if _, err := regexp.Compile(p); err != nil {
				return fmt.Errorf("key refusals[%d].patterns: %q: %w", i, p, err)
			}
		}
		if len(r.Keywords) == 0 && len(r.Patterns) == 0 {
			return fmt.Errorf("key refusals[%d]: no keywords or patterns", i)
		}
	}
	return nil
}
