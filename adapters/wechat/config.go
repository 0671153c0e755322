// Package wechat connects chatloop to personal WeChat accounts through openwechat (desktop mode).
package wechat

// Config is the [wechat] section of chatloop.toml.
type Config struct {
	// Enabled starts this adapter in "chatloop run".
	Enabled bool `toml:"enabled"`
}

// DefaultConfig returns every key's default.
func DefaultConfig() Config { return Config{} }
