package main

import (
	"os"
	"strings"

	"github.com/chatloop/chatloop/model/hub"
)

// secretEnvs are the environment variables that hold secrets whatever the
// configuration says.
var secretEnvs = []string{
	webTokenEnv, "OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
}

// collectSecrets adds every secret cfg names (environment variables and
// the files of *_file keys) to the set the log handler masks: the one
// place that keeps tokens out of logs, whatever path a secret takes into a
// log line (an error body echoed by a proxy, a URL, a wrapped error).
func (a *app) collectSecrets(cfg *Config) {
	var vals []string
	envs := append([]string{cfg.Model.APIKeyEnv}, secretEnvs...)
	files := []string{cfg.Web.TokenFile}
	for _, p := range platforms {
		envs = append(envs, p.SecretEnvs()...)
		files = append(files, p.SecretFiles(cfg.Platforms[p.Name()])...)
	}
	for _, e := range envs {
		if e != "" {
			vals = append(vals, os.Getenv(e))
		}
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && len(b) <= 64<<10 {
			vals = append(vals, strings.TrimSpace(string(b)))
		}
	}
	vals = append(vals, hub.TokenFromEnv())
	a.secrets.Add(vals...)
}
