package wechat

import (
	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/adapters/wechat/ilink"
	"github.com/chatloop/chatloop/bot"
)

// Spec is this adapter's entry in chatloop's platform table: its
// [wechat] section, defaults, validation and how "chatloop run" starts it.
var Spec = platform.Def[Config]{
	Name:    Platform,
	Title:   "WeChat",
	Default: DefaultConfig,
	Enabled: func(c Config) bool { return c.Enabled },
	TOML:    configTOML,
	New: func(cfg Config, h bot.Handler, env platform.Env) (platform.Runner, error) {
		return Open(cfg, h, env.Log, env.Connection(), ilink.WithRedactor(env.Redact))
	},
	LoginQR: Config.QRPath,
}.Spec()

// configTOML is the commented [wechat] section "chatloop init" writes: every
// key with its default. A test checks it against DefaultConfig.
const configTOML = `[wechat]
# Start the personal-WeChat adapter in "chatloop run". The first start
# prints a QR code to scan.
enabled = false
# "ilink": Tencent's official bot API for personal accounts (private
# chats; docs/wechat-ilink.md). "web": the web protocol through
# openwechat (groups too, but most accounts are refused or logged out).
protocol = "ilink"
ilink_base_url = "https://ilinkai.weixin.qq.com"
# The iLink bot token and long-poll cursor (a secret, written 0600); empty:
# $XDG_STATE_HOME/chatloop/wechat-ilink.json (~/.local/state/chatloop/...).
ilink_state_file = ""
# web: the hot-login session (a secret, written 0600). Both: the QR code
# PNG (empty: wechat-login-qr.png beside storage_file for web,
# wechat-ilink-qr.png beside the iLink state file).
storage_file = "wechat-login.json"
qr_file = ""
# Answer friends' private chats; answer @mentions in groups.
private_chats = true
groups = true
# Send throttle: least time between sends to one chat, between any two
# sends, and a random extra delay up to jitter. Accounts that burst get
# restricted: keep these conservative.
chat_interval = "2s"
global_interval = "1s"
jitter = "700ms"
# Long answers go out in parts of at most part_chars characters, at most
# max_parts of them.
part_chars = 600
max_parts = 6
# Messages that vote on an answer (quote it, or it is your latest answer
# within vote_window) or ask for another one.
up_tokens = ["👍", "[强]", "+1", "好"]
down_tokens = ["👎", "[弱]", "-1", "差"]
regen_tokens = ["/regen", "换一个"]
# The reply to pictures, files, video and (web; iLink: untranscribed) voice
# in private chats ("" sends nothing).
media_reply = "目前只能处理文字消息。(Text only for now.)"
# Answer only in the groups of these names (empty: every group), and never
# the people listed, by the id chatloop knows them by: the remark name you
# gave them, else ~ and their nickname (e.g. "~小明"); with protocol
# "ilink", their iLink user id (e.g. "o9cq800kum@im.wechat").
allowed_groups = []
blocked_users = []
`
