// Package wecom connects chatloop to WeCom (enterprise WeChat) through its official API.
package wecom

// Config is the [wecom] section of chatloop.toml.
type Config struct {
	// Enabled starts this adapter in "chatloop run".
	Enabled bool `toml:"enabled"`
}

// DefaultConfig returns every key's default.
func DefaultConfig() Config { return Config{} }
