package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/chatloop/chatloop/adapters/discord"
	"github.com/chatloop/chatloop/adapters/wechat"
)

func TestDefaultConfigTextMatchesDefaults(t *testing.T) {
	// Decode over zero values, so that a key missing from the text shows.
	got := Config{Platforms: map[string]any{}}
	for _, p := range platforms {
		got.Platforms[p.Name()] = reflect.New(reflect.TypeOf(p.NewConfig()).Elem()).Interface()
	}
	md, err := decodeConfig(defaultConfigText(), &got)
	if err != nil {
		t.Fatalf("the default config does not parse: %v", err)
	}
	if diff := cmp.Diff(defaultConfig(), got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the default config text differs from defaultConfig() (-want +got):\n%s", diff)
	}
	// Every key of Config is written out, so every key is documented.
	var missing []string
	check := func(key []string) {
		if !md.IsDefined(key...) {
			missing = append(missing, strings.Join(key, "."))
		}
	}
	walkKeys(reflect.TypeOf(Config{}), nil, check)
	for _, p := range platforms {
		walkKeys(reflect.TypeOf(p.NewConfig()).Elem(), []string{p.Name()}, check)
	}
	if len(missing) > 0 {
		t.Errorf("keys missing from the default config: %v", missing)
	}
}

// walkKeys calls fn with the path of every leaf key of a config struct.
func walkKeys(t reflect.Type, prefix []string, fn func([]string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		key := append(append([]string(nil), prefix...), tag)
		if isSection(f.Type) {
			walkKeys(f.Type, key, fn)
			continue
		}
		if tag == "refusals" || tag == "mcp" {
			continue // an array of tables, documented as a commented example
		}
		fn(key)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, text, wantErr string
		env                 []string
	}{
		{"unknown key", "[bot]\nworkerz = 2\n", "unknown key bot.workerz", nil},
		{"bad type", "[bot]\nworkers = \"two\"\n", "workers", nil},
		{"bad value", "[bot]\nworkers = 0\n", "key workers", nil},
		{"bad duration", "[bot]\nsession_idle = \"soon\"\n", "session_idle", nil},
		{"bad backend", "[model]\nbackend = \"gpt\"\n", "model.backend", nil},
		{"bad admin", "[bot]\nadmins = [\"alice\"]\n", "platform:id", nil},
		{"bad env value", "", "CHATLOOP_BOT_WORKERS", []string{"CHATLOOP_BOT_WORKERS=many"}},
		{"unknown env key", "", "no such configuration key", []string{"CHATLOOP_BOT_NOPE=1"}},
		{"unknown section", "[telegram]\nenabled = true\n", "unknown key telegram", nil},
		{"unknown platform key", "[discord]\ntokn = \"x\"\n", "unknown key discord.tokn", nil},
		{"bad platform value", "[wechat]\nenabled = true\npart_chars = 1\n", "section wechat: wechat configuration: key part_chars", nil},
		{"bad platform env value", "", "CHATLOOP_WECOM_AGENT_ID", []string{"CHATLOOP_WECOM_AGENT_ID=many"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(write(tt.text), true, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "c.toml") && !strings.Contains(err.Error(), "CHATLOOP_") {
				t.Errorf("err %q names neither the file nor the variable", err)
			}
		})
	}
}

func TestLoadConfigOverrides(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte("[bot]\nworkers = 3\n[model]\nstop = [\"x\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(p, true, []string{
		"CHATLOOP_MODEL_PATH=/m.gguf",
		"CHATLOOP_BOT_SESSION_IDLE=5m",
		"CHATLOOP_MODEL_SAMPLING_TEMPERATURE=0",
		"CHATLOOP_BOT_ADMINS=discord:1, wechat:bob",
		"CHATLOOP_DISCORD_REPLY_CHAIN_DEPTH=7",
		"CHATLOOP_WECHAT_UP_TOKENS=yes, ok",
		"HOME=/root",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bot.Workers != 3 || cfg.Model.Path != "/m.gguf" || cfg.Bot.SessionIdle.Duration != 5*time.Minute ||
		cfg.Model.Sampling.Temperature != 0 || len(cfg.Bot.Admins) != 2 || cfg.Model.Stop[0] != "x" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	if d := cfg.Platforms["discord"].(*discord.Config); d.ReplyChainDepth != 7 || !d.VoteReactions {
		t.Errorf("[discord] after CHATLOOP_DISCORD_REPLY_CHAIN_DEPTH=7: %+v", d)
	}
	if w := cfg.Platforms["wechat"].(*wechat.Config); !cmp.Equal(w.UpTokens, []string{"yes", "ok"}) {
		t.Errorf("[wechat] up_tokens after CHATLOOP_WECHAT_UP_TOKENS: %q", w.UpTokens)
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.toml"), false, nil); err != nil {
		t.Errorf("a missing default file should mean defaults: %v", err)
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.toml"), true, nil); err == nil {
		t.Error("a missing --config file was accepted")
	}
}

// TestPlatformTable checks the table: no platform twice, none named like
// one of the command's own sections.
func TestPlatformTable(t *testing.T) {
	var core []string
	ct := reflect.TypeOf(Config{})
	for i := 0; i < ct.NumField(); i++ {
		if tag, _, _ := strings.Cut(ct.Field(i).Tag.Get("toml"), ","); tag != "" && tag != "-" {
			core = append(core, tag)
		}
	}
	if err := platforms.Check(core...); err != nil {
		t.Fatal(err)
	}
}
