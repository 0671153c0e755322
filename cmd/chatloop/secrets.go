package main

import (
	"os"
	"strings"

	"github.com/chatloop/chatloop/adapters/discord"
	"github.com/chatloop/chatloop/adapters/wecom"
)

// secretEnvs are the environment variables that hold secrets whatever the
// configuration says.
var secretEnvs = []string{
	discord.TokenEnv, wecom.SecretEnv, wecom.TokenEnv, wecom.AESKeyEnv,
	webTokenEnv, "OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
}

// collectSecrets adds every secret cfg names (environment variables and
// the files of *_file keys) to the set the log handler masks: the one
// place that keeps tokens out of logs, whatever path a secret takes into a
// log line (an error body echoed by a proxy, a URL, a wrapped error).
func (a *app) collectSecrets(cfg *Config) {
	var vals []string
	envs := append([]string{cfg.Model.APIKeyEnv}, secretEnvs...)
	for _, e := range envs {
		if e != "" {
			vals = append(vals, os.Getenv(e))
		}
	}
	for _, f := range []string{cfg.Discord.TokenFile, cfg.WeCom.SecretFile, cfg.WeCom.TokenFile, cfg.WeCom.AESKeyFile, cfg.Web.TokenFile} {
		if f == "" {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && len(b) <= 64<<10 {
			vals = append(vals, strings.TrimSpace(string(b)))
		}
	}
	vals = append(vals, hfToken())
	a.secrets.Add(vals...)
}
