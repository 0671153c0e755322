package ilink

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// DefaultBaseURL is the iLink API's address.
const DefaultBaseURL = "https://ilinkai.weixin.qq.com"

// Config is what the iLink adapter needs. chatloop fills it from the
// [wechat] section (adapters/wechat.Config.ILink).
type Config struct {
	// BaseURL is where every call goes until a QR login confirms; the
	// login's answer may name another base URL for the bot's calls.
	BaseURL string
	// StateFile holds the bot token, its ids and the long-poll cursor
	// (a secret, mode 0600). "" is DefaultStateFile().
	StateFile string
	// QRFile is where the login QR code is written as a PNG image. ""
	// is wechat-ilink-qr.png beside the state file.
	QRFile string
	// PartChars is the most characters of one message; longer answers
	// go out in parts cut at paragraph breaks. MaxParts caps the parts.
	PartChars, MaxParts int
	// UpTokens, DownTokens and RegenTokens are the messages that vote
	// an answer up or down or ask for another one, on top of the
	// built-in 👍 [强] 赞 /good, 👎 [弱] 踩 /bad and /regen 换一个.
	UpTokens, DownTokens, RegenTokens []string
	// MediaReply answers pictures, files and video ("" sends nothing).
	MediaReply string
	// BlockedUsers are iLink user ids whose messages and votes are
	// ignored.
	BlockedUsers []string
}

// Built-in feedback tokens.
var (
	builtinUp    = []string{"👍", "[强]", "赞", "/good", "/赞"}
	builtinDown  = []string{"👎", "[弱]", "踩", "/bad", "/踩"}
	builtinRegen = []string{"/regen", "换一个"}
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("wechat iLink configuration")

// Validate reports the first bad value.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if err := checkBaseURL(c.BaseURL); err != nil {
		return bad("key ilink_base_url: %v", err)
	}
	switch {
	case c.PartChars < 50:
		return bad("key part_chars: %d is below 50", c.PartChars)
	case c.MaxParts < 1:
		return bad("key max_parts: %d must be at least 1", c.MaxParts)
	}
	if c.stateFile() == "" {
		return bad("key ilink_state_file: empty, and neither XDG_STATE_HOME nor HOME is set")
	}
	return nil
}

// checkBaseURL accepts an absolute http or https URL without query.
func checkBaseURL(s string) error {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q has a query or fragment", s)
	}
	return nil
}

func (c Config) stateFile() string {
	if c.StateFile != "" {
		return c.StateFile
	}
	return DefaultStateFile()
}

// QRPath is where the login QR code PNG is written while one waits to be
// scanned.
func (c Config) QRPath() string { return c.qrFile() }

func (c Config) qrFile() string {
	if c.QRFile != "" {
		return c.QRFile
	}
	return filepath.Join(filepath.Dir(c.stateFile()), "wechat-ilink-qr.png")
}
