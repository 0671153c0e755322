// Package wechat connects chatloop to a personal WeChat account. Its
// [wechat] section picks the protocol: "ilink" (the default), Tencent's
// official bot API, served by package ilink; or "web", served by this
// package's Adapter through openwechat in desktop (UOS) mode, described
// below. Open builds the one the configuration names.
//
// The first start prints a QR code to scan with the phone (and writes it as
// a PNG file); later starts log in again from a hot-reload storage file
// without scanning. Friends' private messages and group messages that
// @mention the account are answered; an answer is sent when complete,
// split into paragraph-sized parts, and every send is throttled per chat and
// overall, because accounts that send in bursts get restricted.
//
// WeChat has no reactions, so votes are messages: a thumbs token ([强], 👍,
// +1, 好 / [弱], 👎, -1, 差) that quote-replies an answer votes on it;
// unquoted it votes on the sender's latest answer in that chat. "换一个"
// and "/regen" ask for another answer; "A"/"B" choose in A/B mode.
package wechat

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/chatloop/chatloop/adapters/wechat/ilink"
	"github.com/chatloop/chatloop/bot"
)

// Config is the [wechat] section of chatloop.toml.
type Config struct {
	// Enabled starts this adapter in "chatloop run". Default false.
	Enabled bool `toml:"enabled"`
	// Protocol is how chatloop joins WeChat: "ilink", Tencent's official
	// bot API for personal accounts (private chats), or "web", the web
	// protocol through openwechat (groups too, but most accounts are
	// refused or logged out). Default "ilink".
	Protocol string `toml:"protocol"`
	// ILinkBaseURL is the iLink API's address; the QR login may name
	// another one for the bot's calls. Default
	// "https://ilinkai.weixin.qq.com".
	ILinkBaseURL string `toml:"ilink_base_url"`
	// ILinkStateFile holds the iLink bot token, its ids and the long-poll
	// cursor (a secret, mode 0600). Default "":
	// $XDG_STATE_HOME/chatloop/wechat-ilink.json, else
	// ~/.local/state/chatloop/wechat-ilink.json.
	ILinkStateFile string `toml:"ilink_state_file"`
	// StorageFile holds the login session (cookies and keys) for hot
	// login without a QR scan. It is a secret: written with mode 0600.
	// Default "wechat-login.json".
	StorageFile string `toml:"storage_file"`
	// QRFile is where the login QR code is written as a PNG image.
	// Default "" (wechat-login-qr.png next to storage_file).
	QRFile string `toml:"qr_file"`
	// PrivateChats answers friends' private messages. Default true.
	PrivateChats bool `toml:"private_chats"`
	// Groups answers group messages that @mention the account. Default
	// true.
	Groups bool `toml:"groups"`
	// ChatInterval is the least time between two sends to the same chat.
	// Default "2s".
	ChatInterval bot.Duration `toml:"chat_interval"`
	// GlobalInterval is the least time between any two sends. Default
	// "1s".
	GlobalInterval bot.Duration `toml:"global_interval"`
	// Jitter adds a random delay of up to this much to every send.
	// Default "700ms".
	Jitter bot.Duration `toml:"jitter"`
	// PartChars is the most characters of one message; longer answers are
	// sent in parts cut at paragraph breaks. Default 600.
	PartChars int `toml:"part_chars"`
	// MaxParts caps the parts of one answer; the last part says the rest
	// was cut. Default 6.
	MaxParts int `toml:"max_parts"`
	// UpTokens are the messages that vote an answer up. Default ["👍",
	// "[强]", "+1", "好"].
	UpTokens []string `toml:"up_tokens"`
	// DownTokens are the messages that vote an answer down. Default ["👎",
	// "[弱]", "-1", "差"].
	DownTokens []string `toml:"down_tokens"`
	// RegenTokens are the messages that ask for another answer. Default
	// ["/regen", "换一个"].
	RegenTokens []string `toml:"regen_tokens"`
	// MediaReply answers pictures and voice in private chats; "" sends
	// nothing. Default "目前只能处理文字消息。(Text only for now.)".
	MediaReply string `toml:"media_reply"`

	// AllowedGroups, when not empty, limits the bot to the groups of these
	// names (as WeChat shows them); other groups are ignored. Default []
	// (every group).
	AllowedGroups []string `toml:"allowed_groups"`
	// BlockedUsers are people whose messages and votes are ignored, by the
	// id the adapter knows them by (see UserIDForms): the remark name the
	// account gave them, else ~ and their nickname; with the iLink
	// protocol, their iLink user id. Default [].
	BlockedUsers []string `toml:"blocked_users"`
}

// DefaultConfig returns every key's default.
func DefaultConfig() Config {
	return Config{
		Protocol:       ProtocolILink,
		ILinkBaseURL:   ilink.DefaultBaseURL,
		StorageFile:    "wechat-login.json",
		PrivateChats:   true,
		Groups:         true,
		ChatInterval:   bot.Duration{Duration: 2 * time.Second},
		GlobalInterval: bot.Duration{Duration: time.Second},
		Jitter:         bot.Duration{Duration: 700 * time.Millisecond},
		PartChars:      600,
		MaxParts:       6,
		UpTokens:       []string{"👍", "[强]", "+1", "好"},
		DownTokens:     []string{"👎", "[弱]", "-1", "差"},
		RegenTokens:    []string{"/regen", "换一个"},
		MediaReply:     "目前只能处理文字消息。(Text only for now.)",
	}
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("wechat configuration")

// Upper bounds of the numeric keys: a pause of ten minutes between
// sends is already a bot that does not answer; WeChat cuts a text message
// near 10,000 characters; a hundred parts is a long article.
const (
	MaxInterval  = 10 * time.Minute
	MaxPartChars = 10000
	MaxMaxParts  = 100
)

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Protocol != ProtocolILink && c.Protocol != ProtocolWeb:
		return bad("key protocol: %q is neither %q nor %q", c.Protocol, ProtocolILink, ProtocolWeb)
	case strings.TrimSpace(c.StorageFile) == "":
		return bad("key storage_file: empty")
	case c.ChatInterval.Duration < 0 || c.ChatInterval.Duration > MaxInterval:
		return bad("key chat_interval: %v is outside 0s–%v", c.ChatInterval.Duration, MaxInterval)
	case c.GlobalInterval.Duration < 0 || c.GlobalInterval.Duration > MaxInterval:
		return bad("key global_interval: %v is outside 0s–%v", c.GlobalInterval.Duration, MaxInterval)
	case c.Jitter.Duration < 0 || c.Jitter.Duration > MaxInterval:
		return bad("key jitter: %v is outside 0s–%v", c.Jitter.Duration, MaxInterval)
	case c.PartChars < 50 || c.PartChars > MaxPartChars:
		return bad("key part_chars: %d is outside 50–%d", c.PartChars, MaxPartChars)
	case c.MaxParts < 1 || c.MaxParts > MaxMaxParts:
		return bad("key max_parts: %d is outside 1–%d", c.MaxParts, MaxMaxParts)
	}
	if c.Protocol == ProtocolILink {
		if err := c.ILink().Validate(); err != nil {
			return err
		}
	}
	if dir := filepath.Dir(c.StorageFile); dir == c.StorageFile {
		return bad("key storage_file: %q is not a file path", c.StorageFile)
	}
	for key, list := range map[string][]string{"allowed_groups": c.AllowedGroups, "blocked_users": c.BlockedUsers} {
		for _, name := range list {
			if strings.TrimSpace(name) == "" {
				return bad("key %s: an empty name", key)
			}
		}
	}
	up, down := map[string]bool{}, map[string]bool{}
	for key, list := range map[string][]string{"up_tokens": c.UpTokens, "down_tokens": c.DownTokens, "regen_tokens": c.RegenTokens} {
		for _, t := range list {
			if strings.TrimSpace(t) == "" {
				return bad("key %s: empty token", key)
			}
		}
	}
	for _, t := range c.UpTokens {
		up[strings.TrimSpace(t)] = true
	}
	for _, t := range c.DownTokens {
		t = strings.TrimSpace(t)
		if up[t] {
			return bad("key down_tokens: %q is also an up token", t)
		}
		down[t] = true
	}
	for _, t := range c.RegenTokens {
		t = strings.TrimSpace(t)
		if up[t] || down[t] {
			return bad("key regen_tokens: %q is also a vote token", t)
		}
	}
	return nil
}

// QRPath is where the adapter writes the login QR code PNG while one
// waits to be scanned (QRFile with its default applied), for the
// protocol in use.
func (c Config) QRPath() string {
	if c.Protocol == ProtocolILink {
		return c.ILink().QRPath()
	}
	return c.qrFile()
}

// The protocols of key protocol.
const (
	ProtocolILink = "ilink"
	ProtocolWeb   = "web"
)

// ILink is the configuration of the iLink adapter.
func (c Config) ILink() ilink.Config {
	return ilink.Config{
		BaseURL:     c.ILinkBaseURL,
		StateFile:   c.ILinkStateFile,
		QRFile:      c.QRFile,
		PartChars:   c.PartChars,
		MaxParts:    c.MaxParts,
		UpTokens:    c.UpTokens,
		DownTokens:  c.DownTokens,
		RegenTokens: c.RegenTokens,
		MediaReply:  c.MediaReply,
		// The iLink protocol has no groups: allowed_groups does not apply.
		BlockedUsers: c.BlockedUsers,
	}
}

// qrFile is QRFile with its default applied.
func (c Config) qrFile() string {
	if c.QRFile != "" {
		return c.QRFile
	}
	return filepath.Join(filepath.Dir(c.StorageFile), "wechat-login-qr.png")
}
