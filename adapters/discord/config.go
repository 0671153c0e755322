// Package discord connects chatloop to Discord through discordgo.
//
// The adapter turns gateway events into bot.Message and bot.Reaction values
// for a bot.Handler, and shows the core's answers as replies that are
// streamed by editing them about once a second, split into several
// messages beyond Discord's 2,000 characters, with 👍/👎 (and 🔄, or
// 🅰️/🅱️ in A/B mode) reactions as vote controls.
//
// discordgo builds its REST and gateway URLs from package-level variables,
// so the API base (Config.APIURL) is process-wide: one process talks to one
// Discord API base at a time.
package discord

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// TokenEnv is the environment variable holding the bot token.
const TokenEnv = "DISCORD_TOKEN"

// DefaultAPIURL is Discord itself.
const DefaultAPIURL = "https://discord.com/"

// Config is the [discord] section of chatloop.toml.
type Config struct {
	// Enabled starts this adapter in "chatloop run". Default false.
	Enabled bool `toml:"enabled"`
	// TokenFile names a file holding the bot token, used when the
	// DISCORD_TOKEN environment variable is empty. Default "" (environment
	// only).
	TokenFile string `toml:"token_file"`
	// APIURL is the base under which the REST API ("api/v9/...") and the
	// "GET api/v9/gateway" look-up are reached, exactly as under
	// discord.com. Default "https://discord.com/". Process-wide.
	APIURL string `toml:"api_url"`
	// EditInterval is how often a streamed answer is edited. Default "1s".
	EditInterval bot.Duration `toml:"edit_interval"`
	// VoteReactions adds 👍 and 👎 under each answer. Default true.
	VoteReactions bool `toml:"vote_reactions"`
	// RegenReaction adds 🔄 under each answer (react to get another
	// answer). Default true.
	RegenReaction bool `toml:"regen_reaction"`
	// ReplyChainDepth is how many earlier messages of a reply chain, or of
	// a thread, are given to the model as context. Default 20; 0 turns
	// reply-chain and thread context off.
	ReplyChainDepth int `toml:"reply_chain_depth"`
	// RegisterCommands registers the /reset and /persona slash commands on
	// start. Default true.
	RegisterCommands bool `toml:"register_commands"`
	// MessageContent asks for the privileged message-content intent, which
	// must then be enabled for the bot in the developer portal (else
	// Discord refuses the connection). Without it the bot still reads DMs
	// and messages that mention it, but not the prefix trigger, plain
	// replies without a ping, nor other people's messages in reply chains
	// and threads. Default true.
	MessageContent bool `toml:"message_content"`
	// CommandGuild registers the slash commands in this one server (they
	// appear at once) instead of globally (Discord may take up to an hour
	// to show new global commands). Default "" (global).
	CommandGuild string `toml:"command_guild"`

	// AllowedGuilds, when not empty, limits the bot to these servers (ids);
	// messages and votes elsewhere are ignored. Default [] (every server).
	AllowedGuilds []string `toml:"allowed_guilds"`
	// AllowedChannels, when not empty, limits the bot in servers to these
	// channels (ids; a thread counts as its parent channel). Default []
	// (every channel).
	AllowedChannels []string `toml:"allowed_channels"`
	// BlockedUsers are user ids whose messages and votes are ignored.
	// Default [].
	BlockedUsers []string `toml:"blocked_users"`
	// AllowDMs answers direct messages. Default true.
	AllowDMs bool `toml:"allow_dms"`
}

// DefaultConfig returns every key's default.
func DefaultConfig() Config {
	return Config{
		APIURL:           DefaultAPIURL,
		EditInterval:     bot.Duration{Duration: time.Second},
		VoteReactions:    true,
		RegenReaction:    true,
		ReplyChainDepth:  20,
		RegisterCommands: true,
		MessageContent:   true,
		AllowDMs:         true,
	}
}

// ErrNoToken is returned when neither DISCORD_TOKEN nor token_file gives a
// token.
var ErrNoToken = errors.New("no Discord bot token: set " + TokenEnv + " or [discord] token_file")

// Upper bounds of the numeric keys: an edit a minute is already no
// streaming, and a reply chain is fetched a message per REST call.
const (
	MaxEditInterval    = time.Minute
	MaxReplyChainDepth = 100
)

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil {
			return fmt.Errorf("key api_url: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("key api_url: %q is not an http(s) URL", c.APIURL)
		}
	}
	if c.EditInterval.Duration < 0 || c.EditInterval.Duration > MaxEditInterval {
		return fmt.Errorf("key edit_interval: %v is outside 0s–%v", c.EditInterval.Duration, MaxEditInterval)
	}
	if c.ReplyChainDepth < 0 || c.ReplyChainDepth > MaxReplyChainDepth {
		return fmt.Errorf("key reply_chain_depth: %d is outside 0–%d", c.ReplyChainDepth, MaxReplyChainDepth)
	}
	return c.validateAccess()
}

// apiBase is APIURL with defaults applied and a trailing slash.
func (c Config) apiBase() string {
	base := c.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base
}

// editInterval is EditInterval with its default applied.
func (c Config) editInterval() time.Duration {
	if c.EditInterval.Duration <= 0 {
		return time.Second
	}
	return c.EditInterval.Duration
}

// Token reads the bot token from DISCORD_TOKEN, else from TokenFile. The
// token is never logged nor put into an error.
func (c Config) Token() (string, error) {
	if t := strings.TrimSpace(os.Getenv(TokenEnv)); t != "" {
		return t, nil
	}
	if c.TokenFile == "" {
		return "", ErrNoToken
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("key token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("key token_file: %s is empty: %w", c.TokenFile, ErrNoToken)
	}
	return t, nil
}
