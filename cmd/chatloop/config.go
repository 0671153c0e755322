package main

import (
	"encoding"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model"
)

// Config is the whole chatloop.toml.
type Config struct {
	Bot      bot.Config     `toml:"bot"`
	Model    ModelConfig    `toml:"model"`
	Feedback FeedbackConfig `toml:"feedback"`
	Reward   RewardConfig   `toml:"reward"`
	Web      WebConfig      `toml:"web"`
	Tools    ToolsConfig    `toml:"tools"`

	// Platforms holds each platform's section, by name, as the pointer
	// its platform.Spec's NewConfig made (*discord.Config for
	// "discord"...). See platforms.go.
	Platforms map[string]any `toml:"-"`
}

// ModelConfig is the [model] section.
type ModelConfig struct {
	// Backend is "local" (GGUF in process), "openai" (an OpenAI-compatible
	// server) or "demo" (a labelled echo generator, no model needed).
	Backend string `toml:"backend"`
	// Path is the GGUF file of the local backend; empty means the default
	// model from the cache.
	Path string `toml:"path"`
	// Name is a catalogue name to use (and pull) when Path is empty.
	Name string `toml:"name"`
	// CacheDir is where pulled models live.
	CacheDir string `toml:"cache_dir"`
	// Threads for the local engine; 0 means one per core.
	Threads int `toml:"threads"`
	// Context is the context length in tokens; 0 means the model's own.
	Context int `toml:"context"`
	// Parallel is how many answers the local engine generates together
	// (one pass over the weights for all); more wait their turn.
	Parallel int `toml:"parallel"`
	// PrefixCacheMB bounds the key/value memory, in MiB, that the local
	// engine keeps from finished answers so that a conversation's next
	// turn only processes its new tokens; 0 keeps none.
	PrefixCacheMB int `toml:"prefix_cache_mb"`
	// Repack rewrites, at load, the weight matrices whose type has a
	// packed layout on this CPU into that layout (faster kernels, the same
	// results; the file's copy is released). false keeps the file's
	// layout, as llama.cpp's --no-repack.
	Repack bool `toml:"repack"`
	// PackCache keeps the repacked weights in a file beside the model
	// ("<model>.chatloop-packed", or under the user's cache folder when
	// the model's is not writable), so later loads map them instead of
	// repacking.
	PackCache bool `toml:"pack_cache"`
	// MaxTokens caps an answer's length in tokens.
	MaxTokens int `toml:"max_tokens"`
	// Template overrides the chat template recognised from the GGUF file.
	Template string `toml:"template"`
	// Adapters are LoRA adapters (llama.cpp's GGUF format) served with the
	// local model; AdapterScales their scales (missing ones are 1);
	// MergeAdapters adds them into the weights at load. See docs/lora.md.
	Adapters      []string  `toml:"adapters"`
	AdapterScales []float64 `toml:"adapter_scales"`
	MergeAdapters bool      `toml:"merge_adapters"`
	// Stop lists extra stop strings.
	Stop []string `toml:"stop"`
	// Sampling defaults.
	Sampling bot.Sampling `toml:"sampling"`

	// BaseURL, APIKeyEnv and RemoteModel configure the "openai" backend.
	BaseURL     string       `toml:"base_url"`
	APIKeyEnv   string       `toml:"api_key_env"`
	RemoteModel string       `toml:"remote_model"`
	Timeout     bot.Duration `toml:"timeout"`
}

// FeedbackConfig is the [feedback] section.
type FeedbackConfig struct {
	// DB is the bbolt file holding answers and votes.
	DB string `toml:"db"`
	// Socket is the local socket a running chatloop serves feedback
	// commands on; empty means "<db>.sock".
	Socket string `toml:"socket"`
	// MaxVotesPerMinute caps one person's votes and A/B choices a minute;
	// 0 means no cap.
	MaxVotesPerMinute int `toml:"max_votes_per_minute"`
}

// RewardConfig is the [reward] section.
type RewardConfig struct {
	// Path is a trained reward head; empty disables scoring.
	Path string `toml:"path"`
	// BestOf samples n answers and sends the best-scoring one (1: off).
	BestOf int `toml:"best_of"`
}

// engineOptions are the local engine's options from the [model] section.
func (m *ModelConfig) engineOptions() model.Options {
	prefix := int64(m.PrefixCacheMB) << 20
	if prefix == 0 {
		prefix = -1 // none kept
	}
	return model.Options{Threads: m.Threads, Context: m.Context, Template: m.Template, Parallel: m.Parallel, PrefixCache: prefix, Repack: model.RepackIf(m.Repack), PackCache: m.PackCache,
		Adapters: m.engineAdapters(), MergeAdapters: m.MergeAdapters}
}

// defaultConfig is every key's default.
func defaultConfig() Config {
	return Config{
		Bot: bot.DefaultConfig(),
		Model: ModelConfig{
			Backend:       "local",
			Name:          "qwen2.5-0.5b-instruct",
			Parallel:      4,
			PrefixCacheMB: 512,
			Repack:        true,
			PackCache:     true,
			MaxTokens:     512,
			Sampling:      bot.Sampling{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.1},
			BaseURL:       "http://127.0.0.1:11434/v1",
			APIKeyEnv:     "OPENAI_API_KEY",
			Timeout:       bot.Duration{Duration: 120 * time.Second},
		},
		Feedback:  FeedbackConfig{DB: "chatloop.db", MaxVotesPerMinute: 30},
		Reward:    RewardConfig{BestOf: 1},
		Web:       WebConfig{Listen: defaultWebListen},
		Tools:     defaultToolsConfig(),
		Platforms: platformDefaults(),
	}
}

// platformDefaults is every platform's section with its defaults.
func platformDefaults() map[string]any {
	out := make(map[string]any, len(platforms))
	for _, p := range platforms {
		out[p.Name()] = p.NewConfig()
	}
	return out
}

// loadConfig reads the file at path over the defaults, then applies
// CHATLOOP_* environment overrides. A missing file is an error only when
// explicit is true.
func loadConfig(path string, explicit bool, environ []string) (Config, error) {
	cfg := defaultConfig()
	data, err := readConfigFile(path)
	if err == nil {
		err = checkConfigShape(data)
	}
	switch {
	case errors.Is(err, errConfigShape):
		return cfg, fmt.Errorf("%s: %w", path, err)
	case err == nil:
		if _, err := decodeConfig(string(data), &cfg); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	default:
		return cfg, fmt.Errorf("config: %w", err)
	}
	read := err == nil
	set, err := applyEnv(&cfg, environ)
	if err != nil {
		return cfg, err
	}
	if err := cfg.validate(); err != nil {
		// Name where the bad value came from: the variable that set the
		// key, else the file (when there is one).
		if name := envBlame(set, err); name != "" {
			return cfg, fmt.Errorf("environment %s: %w", name, err)
		}
		if !read {
			return cfg, fmt.Errorf("configuration: %w", err)
		}
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// envSetting is a configuration key set by an environment variable.
type envSetting struct {
	name string // CHATLOOP_MODEL_CONTEXT
	key  string // model.context
}

// envBlame finds the variable that set the key a validation error names
// ("key model.context: …", or "section bot: key workers: …").
func envBlame(set []envSetting, err error) string {
	msg := err.Error()
	for _, s := range set {
		section, leaf := "", s.key
		if i := strings.LastIndex(s.key, "."); i >= 0 {
			section, leaf = s.key[:i], s.key[i+1:]
		}
		if strings.Contains(msg, "key "+s.key+":") || (section != "" && strings.Contains(msg, "section "+section+":") && strings.Contains(msg, "key "+leaf+":")) {
			return s.name
		}
	}
	return ""
}

// decodeConfig reads TOML text over cfg: the command's own sections into
// their fields, each platform's section into its configuration. A key or
// section nobody reads is an error.
func decodeConfig(text string, cfg *Config) (toml.MetaData, error) {
	var sections map[string]toml.Primitive
	md, err := toml.Decode(text, &sections)
	if err != nil {
		return md, err
	}
	if cfg.Platforms == nil {
		cfg.Platforms = platformDefaults()
	}
	v := reflect.ValueOf(cfg).Elem()
	for i := 0; i < v.NumField(); i++ {
		tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ",")
		if prim, ok := sections[tag]; ok && tag != "" && tag != "-" {
			if err := md.PrimitiveDecode(prim, v.Field(i).Addr().Interface()); err != nil {
				return md, fmt.Errorf("section %s: %w", tag, err)
			}
		}
	}
	for name, prim := range sections {
		pc, ok := cfg.Platforms[name]
		if !ok {
			continue
		}
		if err := md.PrimitiveDecode(prim, pc); err != nil {
			return md, fmt.Errorf("section %s: %w", name, err)
		}
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return md, fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	return md, nil
}

func (c *Config) validate() error {
	switch c.Model.Backend {
	case "local", "openai", "demo":
	default:
		return fmt.Errorf("key model.backend: %q is not one of local, openai, demo", c.Model.Backend)
	}
	if c.Model.Threads < 0 {
		return fmt.Errorf("key model.threads: %d is negative", c.Model.Threads)
	}
	if c.Model.Parallel < 1 {
		return fmt.Errorf("key model.parallel: %d must be at least 1", c.Model.Parallel)
	}
	if c.Model.PrefixCacheMB < 0 {
		return fmt.Errorf("key model.prefix_cache_mb: %d is negative", c.Model.PrefixCacheMB)
	}
	if c.Model.MaxTokens <= 0 || c.Model.MaxTokens > maxAnswer {
		return fmt.Errorf("key model.max_tokens: %d is not between 1 and %d", c.Model.MaxTokens, maxAnswer)
	}
	if c.Model.Context < 0 || c.Model.Context > maxContext {
		return fmt.Errorf("key model.context: %d is not between 0 (the model's own) and %d", c.Model.Context, maxContext)
	}
	if c.Model.Threads > maxThreads {
		return fmt.Errorf("key model.threads: %d is above %d", c.Model.Threads, maxThreads)
	}
	if c.Model.Parallel > maxParallel {
		return fmt.Errorf("key model.parallel: %d is above %d", c.Model.Parallel, maxParallel)
	}
	if c.Model.Timeout.Duration < 0 {
		return fmt.Errorf("key model.timeout: %v is negative", c.Model.Timeout.Duration)
	}
	if err := c.Model.validateAdapters(); err != nil {
		return err
	}
	if err := c.Model.Sampling.Validate(); err != nil {
		return fmt.Errorf("section model.sampling: %w", err)
	}
	if c.Feedback.MaxVotesPerMinute < 0 {
		return fmt.Errorf("key feedback.max_votes_per_minute: %d is negative", c.Feedback.MaxVotesPerMinute)
	}
	if c.Reward.BestOf < 1 || c.Reward.BestOf > maxBestOf {
		return fmt.Errorf("key reward.best_of: %d is not between 1 and %d", c.Reward.BestOf, maxBestOf)
	}
	if err := c.Bot.Validate(); err != nil {
		return fmt.Errorf("section bot: %w", err)
	}
	if err := c.Tools.validate(); err != nil {
		return err
	}
	for _, p := range platforms {
		if pc := c.Platforms[p.Name()]; p.Enabled(pc) {
			if err := p.Validate(pc); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyEnv overrides keys from CHATLOOP_<SECTION>_<KEY> variables, for
// example CHATLOOP_MODEL_PATH or CHATLOOP_BOT_SYSTEM_PROMPT. Scalars,
// durations and comma-separated string lists are supported.
func applyEnv(cfg *Config, environ []string) ([]envSetting, error) {
	var set []envSetting
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "CHATLOOP_") || secretEnv[name] {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, "CHATLOOP_"))
		path, err := setByEnvKey(reflect.ValueOf(cfg).Elem(), key, val)
		if err != nil {
			return set, fmt.Errorf("environment %s: %w", name, err)
		}
		if path == "" {
			return set, fmt.Errorf("environment %s: no such configuration key", name)
		}
		set = append(set, envSetting{name: name, key: path})
	}
	return set, nil
}

// setByEnvKey finds the field whose toml path, joined with "_", equals
// key, sets it, and returns its dotted path ("model.context"); "" when
// no field matches.
func setByEnvKey(v reflect.Value, key, val string) (string, error) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		fv := v.Field(i)
		if key == tag {
			return tag, setScalar(fv, val)
		}
		if isSection(fv.Type()) && strings.HasPrefix(key, tag+"_") {
			if path, err := setByEnvKey(fv, strings.TrimPrefix(key, tag+"_"), val); path != "" || err != nil {
				return tag + "." + path, err
			}
		}
	}
	if cfg, ok := v.Addr().Interface().(*Config); ok {
		for name, pc := range cfg.Platforms {
			if strings.HasPrefix(key, name+"_") {
				if path, err := setByEnvKey(reflect.ValueOf(pc).Elem(), strings.TrimPrefix(key, name+"_"), val); path != "" || err != nil {
					return name + "." + path, err
				}
			}
		}
	}
	return "", nil
}

// isSection reports whether a config field is a table of further keys
// rather than one value written as text (such as a duration).
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

func setScalar(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(interface{ UnmarshalText([]byte) error }); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		v.SetUint(n)
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("this list cannot be set from the environment")
		}
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("this key cannot be set from the environment")
	}
	return nil
}

// config loads the configuration once, honouring --config.
func (a *app) config(cmd *cobra.Command) (*Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	explicit := cmd.Flags().Changed("config") || cmd.Root().PersistentFlags().Changed("config")
	cfg, err := loadConfig(a.configPath, explicit, os.Environ())
	if err != nil {
		return nil, err
	}
	a.cfg = &cfg
	a.collectSecrets(a.cfg)
	return a.cfg, nil
}
