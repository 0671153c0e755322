// Package wecom connects chatloop to WeCom (enterprise WeChat, 企业微信)
// through its official API, as a self-built application (自建应用).
//
// chatloop serves the application's callback URL: it answers WeCom's URL
// verification, decrypts message callbacks (SHA-1 signature, AES-256-CBC
// with the EncodingAESKey, the corp id checked), acknowledges each one at
// once and answers asynchronously through message/send. Every answer is
// followed by an interactive template card with 👍 / 👎 / 🔄 buttons (or a
// "choose this one" button in A/B mode) whose keys carry the answer id; a
// press arrives as a template_card_event, becomes a bot.Reaction and the
// card is updated through message/update_template_card to show the choice.
//
// The protocol is written here by hand (see crypto.go): the Go SDKs
// available cover neither the update of an application's template card nor
// a configurable API base or HTTP client per instance.
package wecom

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/chatloop/chatloop/bot"
)

// Environment variables holding the application's secrets. Each has a
// *_file alternative in the config.
const (
	SecretEnv = "WECOM_SECRET"  // the application's Secret (corpsecret)
	TokenEnv  = "WECOM_TOKEN"   // the callback Token
	AESKeyEnv = "WECOM_AES_KEY" // the callback EncodingAESKey (43 characters)
)

// DefaultAPIURL is WeCom's API server.
const DefaultAPIURL = "https://qyapi.weixin.qq.com/"

// Config is the [wecom] section of chatloop.toml.
type Config struct {
	// Enabled starts this adapter in "chatloop run". Default false.
	Enabled bool `toml:"enabled"`
	// Listen is the address the callback HTTP server listens on. WeCom
	// must reach it (directly or through a reverse proxy) at the URL set as
	// the application's callback URL. Default "127.0.0.1:8086".
	Listen string `toml:"listen"`
	// Path is the URL path of the callback. Default "/wecom/callback".
	Path string `toml:"path"`
	// CorpID is the enterprise's corp id (企业ID, "ww…"). Required.
	CorpID string `toml:"corp_id"`
	// AgentID is the application's AgentId. Required.
	AgentID int64 `toml:"agent_id"`
	// APIURL is the base under which "cgi-bin/…" is reached. Default
	// "https://qyapi.weixin.qq.com/"; change it for a forwarding proxy.
	APIURL string `toml:"api_url"`
	// SecretFile names a file holding the application's Secret, used when
	// WECOM_SECRET is empty. Default "" (environment only).
	SecretFile string `toml:"secret_file"`
	// TokenFile names a file holding the callback Token, used when
	// WECOM_TOKEN is empty. Default "" (environment only).
	TokenFile string `toml:"token_file"`
	// AESKeyFile names a file holding the callback EncodingAESKey, used
	// when WECOM_AES_KEY is empty. Default "" (environment only).
	AESKeyFile string `toml:"aes_key_file"`
	// MaxClockSkew is how far a callback's timestamp may be from now
	// before it is refused as stale (or from the future). Default "5m".
	MaxClockSkew bot.Duration `toml:"max_clock_skew"`
	// Cards follows each answer with a template card carrying the vote
	// buttons. Default true.
	Cards bool `toml:"cards"`
	// AllowedUsers, when not empty, limits the bot to these members
	// (UserIDs, see UserIDForms); others' messages and votes are ignored.
	// Default [] (every member who can see the application).
	AllowedUsers []string `toml:"allowed_users"`
}

// DefaultConfig returns every key's default.
func DefaultConfig() Config {
	return Config{
		Listen:       "127.0.0.1:8086",
		Path:         "/wecom/callback",
		APIURL:       DefaultAPIURL,
		MaxClockSkew: bot.Duration{Duration: 5 * time.Minute},
		Cards:        true,
	}
}

// Errors for missing or bad configuration.
var (
	ErrConfig   = errors.New("wecom configuration")
	ErrNoSecret = errors.New("missing WeCom secret")
)

// Validate reports the first bad value, naming its key. corp_id and
// agent_id are required when the adapter is enabled.
func (c Config) Validate() error {
	if c.Enabled {
		if err := c.validateIdentity(); err != nil {
			return err
		}
	}
	for _, u := range c.AllowedUsers {
		if strings.TrimSpace(u) == "" {
			return fmt.Errorf("%w: key allowed_users: an empty UserID", ErrConfig)
		}
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("%w: key listen: %w", ErrConfig, err)
		}
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		return fmt.Errorf("%w: key path: %q does not start with /", ErrConfig, c.Path)
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil {
			return fmt.Errorf("%w: key api_url: %w", ErrConfig, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: key api_url: %q is not an http(s) URL", ErrConfig, c.APIURL)
		}
	}
	if c.MaxClockSkew.Duration < 0 || c.MaxClockSkew.Duration > MaxClockSkew {
		return fmt.Errorf("%w: key max_clock_skew: %v is outside 0s–%v", ErrConfig, c.MaxClockSkew.Duration, MaxClockSkew)
	}
	return nil
}

// MaxClockSkew bounds max_clock_skew: a callback older than a day is no
// clock skew, and every accepted callback's id is kept (for replay
// protection) for this long.
const MaxClockSkew = 24 * time.Hour

func (c Config) validateIdentity() error {
	if c.CorpID == "" {
		return fmt.Errorf("%w: key corp_id is empty", ErrConfig)
	}
	if c.AgentID <= 0 || c.AgentID > math.MaxInt32 {
		return fmt.Errorf("%w: key agent_id must be the application's AgentId", ErrConfig)
	}
	return nil
}

func (c Config) listen() string { return cmpOr(c.Listen, "127.0.0.1:8086") }
func (c Config) path() string   { return cmpOr(c.Path, "/wecom/callback") }

func (c Config) apiBase() string {
	base := cmpOr(c.APIURL, DefaultAPIURL)
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base
}

func (c Config) maxSkew() time.Duration {
	if c.MaxClockSkew.Duration <= 0 {
		return 5 * time.Minute
	}
	return c.MaxClockSkew.Duration
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// secrets are the three values that never appear in config or logs.
type secrets struct {
	secret string
	token  string
	aesKey []byte // decoded, 32 bytes
}

// loadSecrets reads the secret, token and EncodingAESKey from the
// environment, else from the files named in c. Errors name the key or
// variable, never the value.
func (c Config) loadSecrets() (secrets, error) {
	var s secrets
	var err error
	if s.secret, err = readSecret(SecretEnv, "secret_file", c.SecretFile); err != nil {
		return s, err
	}
	if s.token, err = readSecret(TokenEnv, "token_file", c.TokenFile); err != nil {
		return s, err
	}
	key, err := readSecret(AESKeyEnv, "aes_key_file", c.AESKeyFile)
	if err != nil {
		return s, err
	}
	if s.aesKey, err = decodeAESKey(key); err != nil {
		return s, fmt.Errorf("%w: %s / aes_key_file: %w", ErrConfig, AESKeyEnv, err)
	}
	return s, nil
}

func readSecret(env, key, file string) (string, error) {
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v, nil
	}
	if file == "" {
		return "", fmt.Errorf("%w: set %s or [wecom] %s", ErrNoSecret, env, key)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: key %s: %w", ErrConfig, key, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%w: key %s: %s is empty", ErrNoSecret, key, file)
	}
	return v, nil
}

// ErrBadAESKey is returned for an EncodingAESKey that is not 43 base64
// characters encoding 32 bytes.
var ErrBadAESKey = errors.New("EncodingAESKey must be 43 base64 characters")

// decodeAESKey turns the 43-character EncodingAESKey into the 32-byte AES
// key (base64 with one "=" of padding restored).
func decodeAESKey(s string) ([]byte, error) {
	if len(s) != 43 {
		return nil, ErrBadAESKey
	}
	k, err := base64.StdEncoding.DecodeString(s + "=")
	if err != nil || len(k) != 32 {
		return nil, ErrBadAESKey
	}
	return k, nil
}
