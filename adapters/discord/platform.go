package discord

import (
	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
)

// Spec is this adapter's entry in chatloop's platform table: its
// [discord] section, defaults, validation and how "chatloop run" starts it.
var Spec = platform.Def[Config]{
	Name:        Platform,
	Title:       "Discord",
	Default:     DefaultConfig,
	Enabled:     func(c Config) bool { return c.Enabled },
	TOML:        configTOML,
	SecretEnvs:  []string{TokenEnv},
	SecretFiles: func(c Config) []string { return []string{c.TokenFile} },
	New: func(cfg Config, h bot.Handler, env platform.Env) (platform.Runner, error) {
		return New(cfg, h, env.Log.With("adapter", "discord"), WithPrefix(env.Prefix), WithConn(env.Connection()))
	},
}.Spec()

// configTOML is the commented [discord] section "chatloop init" writes: every
// key with its default. A test checks it against DefaultConfig.
const configTOML = `[discord]
# Start the Discord adapter in "chatloop run". The bot token comes from
# the DISCORD_TOKEN environment variable, else from the file token_file
# names. See docs/platforms/discord.md for creating the bot and its intents.
enabled = false
token_file = ""
# The base under which the REST API and GET .../gateway are reached, as
# under discord.com (for Discord-compatible servers and tests).
api_url = "https://discord.com/"
# How often a streamed answer is edited.
edit_interval = "1s"
# Add 👍 and 👎 under each answer; add 🔄 (react for another answer).
vote_reactions = true
regen_reaction = true
# Earlier messages of a reply chain or thread given to the model (0: off).
reply_chain_depth = 20
# Register the /reset, /persona and /sources slash commands on start, globally or,
# with command_guild, in one server (they appear there at once).
register_commands = true
command_guild = ""
# Ask for the privileged message-content intent (enable it in the
# developer portal too). Without it DMs and @mentions still work, but not
# the prefix trigger, replies without a ping, or reply-chain context.
message_content = true
# Allow and block lists (ids: Developer Mode, then right-click → Copy ID).
# Empty lists mean everywhere and everyone. allowed_channels also admits
# the threads of the channels listed. DMs are answered when allow_dms is
# true, whatever the server lists say.
allowed_guilds = []
allowed_channels = []
blocked_users = []
allow_dms = true
`
