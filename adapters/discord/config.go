// Package discord connects chatloop to Discord through discordgo.
package discord

// Config is the [discord] section of chatloop.toml.
type Config struct {
	// Enabled starts this adapter in "chatloop run".
	Enabled bool `toml:"enabled"`
}

// DefaultConfig returns every key's default.
func DefaultConfig() Config { return Config{} }
