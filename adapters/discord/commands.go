package discord

import (
	"context"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/chatloop/chatloop/bot"
)

// manageGuild is the permission a member needs to see /persona by default
// (server admins can change that under Server Settings → Integrations).
var manageGuild int64 = discordgo.PermissionManageGuild

// slashCommands are the application commands registered on start. The
// core runs them as the text commands "/reset", "/persona ..." and
// "/sources".
func slashCommands() []*discordgo.ApplicationCommand {
	dm := true
	return []*discordgo.ApplicationCommand{
		{
			Name:         "reset",
			Description:  "Forget our conversation in this channel",
			DMPermission: &dm,
			DescriptionLocalizations: &map[discordgo.Locale]string{
				discordgo.ChineseCN: "清空本频道的对话",
			},
		},
		{
			Name:                     "persona",
			Description:              "Show or set this channel's system prompt (admins)",
			DefaultMemberPermissions: &manageGuild,
			DMPermission:             &dm,
			DescriptionLocalizations: &map[discordgo.Locale]string{
				discordgo.ChineseCN: "查看或设置本频道的系统提示（管理员）",
			},
			Options: []*discordgo.ApplicationCommandOption{{
				Type:        discordgo.ApplicationCommandOptionString,
				Name:        "text",
				Description: `The new system prompt, or "reset" for the default; empty shows it`,
				Required:    false,
			}},
		},
		{
			Name:         "sources",
			Description:  "The sources of the last answer in this channel",
			DMPermission: &dm,
			DescriptionLocalizations: &map[discordgo.Locale]string{
				discordgo.ChineseCN: "本频道上一个回答的来源",
			},
		},
	}
}

// registerCommands replaces the bot's slash commands with ours.
func (a *Adapter) registerCommands(ctx context.Context, s *discordgo.Session, appID string) {
	got, err := s.ApplicationCommandBulkOverwrite(appID, a.cfg.CommandGuild, slashCommands(), discordgo.WithContext(ctx))
	if err != nil {
		a.log.Warn("registering slash commands", "err", err)
		return
	}
	a.log.Info("slash commands registered", "count", len(got), "guild_only", a.cfg.CommandGuild != "")
}

// onInteraction runs a slash command: it acknowledges it at once (Discord
// allows three seconds) and hands the core the equivalent text command,
// whose notices then replace the acknowledgement, visible only to the
// user who ran it.
func (a *Adapter) onInteraction(ctx context.Context, s *discordgo.Session, in *discordgo.Interaction) {
	if in.Type != discordgo.InteractionApplicationCommand {
		return
	}
	data := in.ApplicationCommandData()
	text := ""
	switch data.Name {
	case "reset":
		text = "/reset"
	case "sources":
		text = "/sources"
	case "persona":
		text = "/persona"
		for _, o := range data.Options {
			if o.Name == "text" && o.Type == discordgo.ApplicationCommandOptionString {
				if v := strings.TrimSpace(o.StringValue()); v != "" {
					text += " " + v
				}
			}
		}
	default:
		return
	}
	user := in.User
	if in.Member != nil && in.Member.User != nil {
		user = in.Member.User
	}
	if user == nil {
		return
	}
	if !a.allowed(ctx, s, in.GuildID, in.ChannelID, user.ID) {
		// Unanswered, Discord would show "the application did not respond".
		err := s.InteractionRespond(in, &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral, Content: "This bot does not take commands here."},
		}, discordgo.WithContext(ctx))
		if err != nil {
			a.log.Warn("refusing a slash command", "err", err)
		}
		return
	}
	err := s.InteractionRespond(in, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral},
	}, discordgo.WithContext(ctx))
	if err != nil {
		a.log.Warn("acknowledging a slash command", "err", err)
		return
	}
	name := user.Username
	if in.Member != nil && in.Member.Nick != "" {
		name = in.Member.Nick
	} else if user.GlobalName != "" {
		name = user.GlobalName
	}
	msg := bot.Message{
		Platform:    Platform,
		ChatID:      bot.ChatID(in.ChannelID),
		MessageID:   bot.MessageID(in.ID),
		SenderID:    bot.UserID(user.ID),
		SenderName:  name,
		Text:        text,
		IsDirect:    in.GuildID == "",
		MentionsBot: true, // a slash command is addressed to the bot
		FromBot:     user.Bot,
	}
	r := a.newReplier(s, in.ChannelID, in.GuildID, "")
	r.interaction = in
	a.h.HandleMessage(ctx, msg, r)
}
