package discord

import (
	"context"
	"fmt"
	"slices"

	"github.com/bwmarrin/discordgo"
)

// validateAccess checks the allow and block lists: Discord ids are
// numbers (snowflakes), which a name copied by mistake is not.
func (c Config) validateAccess() error {
	for _, l := range []struct {
		key string
		ids []string
	}{{"allowed_guilds", c.AllowedGuilds}, {"allowed_channels", c.AllowedChannels}, {"blocked_users", c.BlockedUsers}} {
		for _, id := range l.ids {
			if !snowflake(id) {
				return fmt.Errorf("key %s: %q is not a Discord id (a number: enable Developer Mode, then right-click → Copy ID)", l.key, id)
			}
		}
	}
	return nil
}

func snowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// allowed reports whether a message or vote by user in channel of guild
// ("" in a DM) may reach the core: the user is not blocked, and the place
// is in the allow lists (empty lists allow everything).
func (a *Adapter) allowed(ctx context.Context, s *discordgo.Session, guild, channel, user string) bool {
	if slices.Contains(a.cfg.BlockedUsers, user) {
		return false
	}
	if guild == "" {
		return a.cfg.AllowDMs
	}
	if len(a.cfg.AllowedGuilds) > 0 && !slices.Contains(a.cfg.AllowedGuilds, guild) {
		return false
	}
	if len(a.cfg.AllowedChannels) == 0 || slices.Contains(a.cfg.AllowedChannels, channel) {
		return true
	}
	parent := a.parentChannel(ctx, s, channel)
	return parent != "" && slices.Contains(a.cfg.AllowedChannels, parent)
}

// parentChannel is the channel a thread belongs to, "" for a channel that
// is not a thread or cannot be looked up.
func (a *Adapter) parentChannel(ctx context.Context, s *discordgo.Session, channel string) string {
	if !a.isThread(ctx, s, channel) {
		return ""
	}
	if v, ok := a.parents.get(channel); ok {
		return v
	}
	ch, err := s.State.Channel(channel)
	if err != nil {
		ch, err = s.Channel(channel, discordgo.WithContext(ctx))
		if err != nil {
			a.log.Debug("looking up a thread's channel", "err", err)
			return ""
		}
	}
	a.parents.put(channel, ch.ParentID)
	return ch.ParentID
}
