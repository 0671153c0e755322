package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/chat"
	"github.com/chatloop/chatloop/tools"
)

// ToolsConfig is the [tools] section: what the model may call while it
// answers, and where. See docs/tools.md.
type ToolsConfig struct {
	// Enabled offers the tools; false: plain chat.
	Enabled bool `toml:"enabled"`
	// SearchURL is a SearXNG instance's search endpoint for web_search,
	// e.g. http://localhost:8888/search; empty leaves web_search out.
	SearchURL string `toml:"search_url"`
	// SearchResults is how many results web_search returns.
	SearchResults int `toml:"search_results"`
	// AllowPrivate lets fetch_url reach loopback, private and link-local
	// addresses.
	AllowPrivate bool `toml:"allow_private"`
	// Timezone is current_time's time zone (IANA); empty: this machine's.
	Timezone string `toml:"timezone"`
	// CallTimeout bounds one call of a built-in tool.
	CallTimeout bot.Duration `toml:"call_timeout"`
	// MaxRounds is how many rounds of tool calls one answer may take.
	MaxRounds int `toml:"max_rounds"`
	// Budget bounds the time one answer spends on tools.
	Budget bot.Duration `toml:"budget"`
	// MaxResultTokens is the most tokens of one result the model sees.
	MaxResultTokens int `toml:"max_result_tokens"`
	// Groups offers tools in group chats (false: direct chats, and the
	// group chats listed in Chats).
	Groups bool `toml:"groups"`
	// AdminOnly lists tools (names or patterns) only [bot] admins get.
	AdminOnly []string `toml:"admin_only"`
	// Platforms and Chats are allow lists: the tools offered on a
	// platform, and in one chat ("platform:chat id"), by name or pattern.
	Platforms map[string][]string `toml:"platforms"`
	Chats     map[string][]string `toml:"chats"`
	// MCP lists Model Context Protocol servers whose tools are offered
	// too, as "<name>_<tool>".
	MCP []tools.MCPServer `toml:"mcp"`
}

// Bounds of the [tools] keys.
const (
	maxSearchResults = 20
	maxCallTimeout   = 10 * time.Minute
	maxMCPServers    = 32
)

func defaultToolsConfig() ToolsConfig {
	return ToolsConfig{
		SearchResults:   5,
		CallTimeout:     bot.Duration{Duration: 15 * time.Second},
		MaxRounds:       3,
		Budget:          bot.Duration{Duration: time.Minute},
		MaxResultTokens: 1024,
	}
}

// builtinPrefixes are the first words of the built-in tools' names: an
// MCP server named so would offer tools that clash with them.
var builtinPrefixes = []string{"web", "fetch", "current"}

func (t ToolsConfig) validate() error {
	switch {
	case t.SearchURL != "" && !strings.HasPrefix(t.SearchURL, "http://") && !strings.HasPrefix(t.SearchURL, "https://"):
		return fmt.Errorf("key tools.search_url: %q is not an http(s) URL, such as http://localhost:8888/search", t.SearchURL)
	case t.SearchResults < 1 || t.SearchResults > maxSearchResults:
		return fmt.Errorf("key tools.search_results: %d is not between 1 and %d", t.SearchResults, maxSearchResults)
	case t.CallTimeout.Duration < time.Second || t.CallTimeout.Duration > maxCallTimeout:
		return fmt.Errorf("key tools.call_timeout: %v is not between 1s and %v", t.CallTimeout.Duration, maxCallTimeout)
	case t.MaxRounds < 1:
		return fmt.Errorf("key tools.max_rounds: %d is not between 1 and %d", t.MaxRounds, bot.MaxToolRounds)
	case t.Budget.Duration <= 0:
		return fmt.Errorf("key tools.budget: %v is not between 1s and %v", t.Budget.Duration, bot.MaxToolBudget)
	case t.MaxResultTokens <= 0:
		return fmt.Errorf("key tools.max_result_tokens: %d is not between %d and %d", t.MaxResultTokens, bot.MinToolResultTokens, bot.MaxToolResultTokens)
	case len(t.MCP) > maxMCPServers:
		return fmt.Errorf("key tools.mcp: %d servers, over %d", len(t.MCP), maxMCPServers)
	}
	if _, err := t.location(); err != nil {
		return err
	}
	if err := t.options(nil).Validate(); err != nil {
		return fmt.Errorf("section tools: %w", err)
	}
	seen := map[string]bool{}
	for _, s := range t.MCP {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("key %w", err)
		}
		for _, p := range builtinPrefixes {
			if strings.EqualFold(s.Name, p) {
				return fmt.Errorf("key tools.mcp: the name %q would clash with the built-in tools (%s_…): choose another", s.Name, p)
			}
		}
		if seen[s.Name] {
			return fmt.Errorf("key tools.mcp: the name %q is used twice", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

func (t ToolsConfig) location() (*time.Location, error) {
	if t.Timezone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(t.Timezone)
	if err != nil {
		return nil, fmt.Errorf("key tools.timezone: %q is not an IANA time zone such as Asia/Shanghai: %v", t.Timezone, err)
	}
	return loc, nil
}

// options are the core's tool options over box.
func (t ToolsConfig) options(box bot.ToolBox) bot.ToolOptions {
	return bot.ToolOptions{
		Box:             box,
		MaxRounds:       t.MaxRounds,
		Budget:          t.Budget.Duration,
		MaxResultTokens: t.MaxResultTokens,
		Policy: bot.ToolPolicy{
			Groups:    t.Groups,
			AdminOnly: t.AdminOnly,
			Platforms: t.Platforms,
			Chats:     t.Chats,
		},
	}
}

// startTools offers the configured tools to the core (through a.tools,
// which newCore reads): the built-ins, and every MCP server, started and
// kept running until stop is called, which stops them and waits.
func (a *app) startTools(ctx context.Context, cfg *Config) (stop func(), err error) {
	tc := cfg.Tools
	if !tc.Enabled {
		a.tools = bot.ToolOptions{}
		return func() {}, nil
	}
	loc, err := tc.location()
	if err != nil {
		return nil, err
	}
	set := &tools.Set{}
	for _, t := range tools.Builtins(tools.BuiltinConfig{
		SearchURL: tc.SearchURL, SearchResults: tc.SearchResults, AllowPrivate: tc.AllowPrivate,
		Timeout: tc.CallTimeout.Duration, Location: loc,
	}) {
		if err := set.Add(t); err != nil {
			return nil, err
		}
	}
	if tc.SearchURL == "" {
		a.logger().Info("web_search is off: set [tools] search_url to a SearXNG instance's /search endpoint")
	}
	// The servers outlive the signal that stops the adapters: answers in
	// flight may still call them while the core finishes.
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, srv := range tc.MCP {
		wg.Go(func() {
			tools.RunMCP(mctx, srv, set, tools.MCPOptions{Log: a.logger()})
		})
	}
	a.tools = tc.options(setBox{set})
	return func() { cancel(); wg.Wait() }, nil
}

// setBox offers a tools.Set to the core.
type setBox struct{ set *tools.Set }

var _ bot.ToolBox = setBox{}

func (b setBox) Tools() []bot.ToolSpec {
	ts := b.set.Tools(nil)
	out := make([]bot.ToolSpec, len(ts))
	for i, t := range ts {
		out[i] = bot.ToolSpec{AdminOnly: t.AdminOnly, Tool: chat.Tool{Type: "function", Function: chat.ToolFunction{
			Name: t.Name, Description: t.Description, Parameters: t.Parameters,
		}}}
	}
	return out
}

func (b setBox) Call(ctx context.Context, name string, args json.RawMessage) (bot.ToolResult, error) {
	res, err := b.set.Call(ctx, name, args)
	if err != nil {
		return bot.ToolResult{}, err
	}
	out := bot.ToolResult{Text: res.Text}
	for _, s := range res.Sources {
		out.Sources = append(out.Sources, bot.Source{Title: s.Title, URL: s.URL})
	}
	return out, nil
}
