package wecom

import (
	"context"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/internal/seen"
)

// Spec is this adapter's entry in chatloop's platform table: its
// [wecom] section, defaults, validation and how "chatloop run" starts it.
var Spec = platform.Def[Config]{
	Name:        Platform,
	Title:       "WeCom",
	Default:     DefaultConfig,
	Enabled:     func(c Config) bool { return c.Enabled },
	TOML:        configTOML,
	SecretEnvs:  []string{SecretEnv, TokenEnv, AESKeyEnv},
	SecretFiles: func(c Config) []string { return []string{c.SecretFile, c.TokenFile, c.AESKeyFile} },
	New:         start,
}.Spec()

// start builds the adapter with its replay guard kept in
// "<[feedback] db>.wecom-seen", so that a callback captured within
// max_clock_skew is refused after a restart too.
func start(cfg Config, h bot.Handler, env platform.Env) (platform.Runner, error) {
	set, err := seen.Open(env.StateFile("wecom-seen"))
	if err != nil {
		return nil, err
	}
	w, err := New(cfg, h, env.Log.With("adapter", Platform), WithSeenStore(set), WithConn(env.Connection()), WithRedactor(env.Redact))
	if err != nil {
		_ = set.Close()
		return nil, err
	}
	return closingRunner{w, set.Close}, nil
}

// closingRunner runs r and then releases what it used.
type closingRunner struct {
	r     platform.Runner
	close func() error
}

func (c closingRunner) Run(ctx context.Context) error {
	defer func() { _ = c.close() }()
	return c.r.Run(ctx)
}

// configTOML is the commented [wecom] section "chatloop init" writes: every
// key with its default. A test checks it against DefaultConfig.
const configTOML = `[wecom]
# Start the WeCom (enterprise WeChat) self-built application adapter in
# "chatloop run". Secrets: WECOM_SECRET, WECOM_TOKEN, WECOM_AES_KEY in the
# environment, or the files named below.
enabled = false
# Where the callback server listens, and the callback URL's path.
listen = "127.0.0.1:8086"
path = "/wecom/callback"
# Required when enabled: the corp id ("ww...") and the app's AgentId.
corp_id = ""
agent_id = 0
api_url = "https://qyapi.weixin.qq.com/"
secret_file = ""
token_file = ""
aes_key_file = ""
# Callbacks older (or newer) than this are refused as stale.
max_clock_skew = "5m0s"
# Follow each answer with a card with 👍 / 👎 / 🔄 buttons.
cards = true
# Answer only these members (UserIDs; empty: everyone who can see the app).
allowed_users = []
`
