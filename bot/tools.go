package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatloop/chatloop/model/chat"
)

// ToolBox is what the core needs to let the model call tools: the tools
// on offer now (MCP servers come and go) and a way to run one call.
type ToolBox interface {
	// Tools lists every tool on offer; the core's policy chooses among
	// them for each message.
	Tools() []ToolSpec
	// Call runs the named tool with its arguments (a JSON object). A
	// refused or failed call is an error, which the model is told.
	Call(ctx context.Context, name string, args json.RawMessage) (ToolResult, error)
}

// ToolSpec is one tool on offer.
type ToolSpec struct {
	Tool chat.Tool
	// AdminOnly tools are offered only to the bot's admins ([bot] admins).
	AdminOnly bool
}

// ToolResult is what a call returns.
type ToolResult struct {
	// Text goes back to the model. Lines that start with "[k] " number
	// the result's sources: Sources[k-1].
	Text    string
	Sources []Source
}

// Source is a page a tool result draws on, cited in an answer as [n].
type Source struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Statuser is an optional Replier extension: a short status line shown
// while the answer waits on a tool ("🔎 searching: …"), which the answer
// replaces once it comes (Discord edits its placeholder message). Without
// it the core renews the typing indicator (Typer) before each call.
type Statuser interface {
	Status(ctx context.Context, text string) error
}

// ToolOptions let the model call tools while it answers ([tools]).
type ToolOptions struct {
	// Box holds the tools; nil: no tools, plain chat.
	Box ToolBox
	// MaxRounds is how many rounds of tool calls one answer may take
	// (default 3); after the last the model answers without tools.
	MaxRounds int
	// Budget bounds the time one answer spends on tool rounds (default
	// 60 s): calls still running then are cancelled (the model is told),
	// and the model answers with what it has, without tools.
	Budget time.Duration
	// MaxResultTokens is the most tokens of one call's result the model
	// is shown (default 1024); the rest is cut, and the cut marked.
	MaxResultTokens int
	// Policy decides which tools are offered where.
	Policy ToolPolicy
}

// Bounds of the tool options, for configuration checks.
const (
	MaxToolRounds       = 16
	MaxToolBudget       = 30 * time.Minute
	MinToolResultTokens = 16
	MaxToolResultTokens = 1 << 16
	// maxCallsPerRound bounds the calls one round runs; more are answered
	// with an error without running.
	maxCallsPerRound = 8
)

// ToolPolicy decides which tools are offered for a message.
type ToolPolicy struct {
	// Groups offers tools in group chats; false offers them in direct
	// chats only, and in the group chats listed in Chats.
	Groups bool
	// AdminOnly lists tools (names, or patterns such as "files_*") offered
	// only to admins, beside the ones their box marks so.
	AdminOnly []string
	// Platforms maps a platform to the tools offered there (names or
	// patterns); a platform not listed offers every tool.
	Platforms map[string][]string
	// Chats maps "platform:chat id" to the tools offered in that chat,
	// instead of its platform's list; listing a group chat here turns
	// tools on there even when Groups is false.
	Chats map[string][]string
}

// Validate reports the first bad entry.
func (p ToolPolicy) Validate() error {
	check := func(key string, pats []string) error {
		for _, pat := range pats {
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				return fmt.Errorf("key %s: %q is not a tool name or pattern", key, pat)
			}
		}
		return nil
	}
	if err := check("admin_only", p.AdminOnly); err != nil {
		return err
	}
	for k, v := range p.Platforms {
		if err := check("platforms."+k, v); err != nil {
			return err
		}
	}
	for k, v := range p.Chats {
		if pl, id, ok := strings.Cut(k, ":"); !ok || pl == "" || id == "" {
			return fmt.Errorf("key chats: %q is not platform:chat", k)
		}
		if err := check("chats."+k, v); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the limits (zero values stand for the defaults).
func (o ToolOptions) Validate() error {
	switch {
	case o.MaxRounds < 0 || o.MaxRounds > MaxToolRounds:
		return fmt.Errorf("key max_rounds: %d is not between 1 and %d", o.MaxRounds, MaxToolRounds)
	case o.Budget < 0 || o.Budget > MaxToolBudget:
		return fmt.Errorf("key budget: %v is not between 1s and %v", o.Budget, MaxToolBudget)
	case o.Budget > 0 && o.Budget < time.Second:
		return fmt.Errorf("key budget: %v is below 1s", o.Budget)
	case o.MaxResultTokens != 0 && (o.MaxResultTokens < MinToolResultTokens || o.MaxResultTokens > MaxToolResultTokens):
		return fmt.Errorf("key max_result_tokens: %d is not between %d and %d", o.MaxResultTokens, MinToolResultTokens, MaxToolResultTokens)
	}
	return o.Policy.Validate()
}

func (o *ToolOptions) defaults() {
	if o.MaxRounds == 0 {
		o.MaxRounds = 3
	}
	if o.Budget == 0 {
		o.Budget = time.Minute
	}
	if o.MaxResultTokens == 0 {
		o.MaxResultTokens = 1024
	}
}

// offeredTools lists the tools the policy offers for m, by name.
func (c *Core) offeredTools(m Message) []chat.Tool {
	box := c.opts.Tools.Box
	if box == nil || c.opts.Now().UnixNano() < c.toolsPausedUntil.Load() {
		return nil
	}
	p := c.opts.Tools.Policy
	list, listed := p.Chats[m.Platform+":"+string(m.ChatID)]
	if !m.IsDirect && !p.Groups && !listed {
		return nil
	}
	if !listed {
		list, listed = p.Platforms[m.Platform]
	}
	admin := c.isAdmin(m.Platform, m.SenderID)
	var out []chat.Tool
	for _, s := range box.Tools() {
		name := s.Tool.Function.Name
		if listed && !matchesAny(list, name) {
			continue
		}
		if (s.AdminOnly || matchesAny(p.AdminOnly, name)) && !admin {
			continue
		}
		t := s.Tool
		if t.Type == "" {
			t.Type = "function"
		}
		out = append(out, t)
	}
	return out
}

func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// toolRun is a finished generation with its tool rounds.
type toolRun struct {
	res     Result // the last round's, with every round's answer tokens
	steps   []Turn
	sources sourceList
	// withdrawn: the model failed with the tools offered and answered
	// without them, so none were offered in the end.
	withdrawn bool
}

// toolsPause is how long tools are not offered after the model failed
// with them and answered without them (a model or server without tool
// support: Ollama answers 400 "does not support tools").
const toolsPause = 10 * time.Minute

// generate asks the generator for the answer to prompt. When tools are
// offered, it runs the calls the model asks for and asks again, at most
// MaxRounds times and within the time budget, then once more without
// tools. Text the model writes before its calls is shown as it comes,
// like the answer (the calls themselves never are).
func (c *Core) generate(ctx context.Context, r Replier, m Message, prompt []Turn, offered []chat.Tool, sp Sampling, version *VersionChoice, onToken func(string)) (toolRun, error) {
	var run toolRun
	if len(offered) == 0 {
		res, err := c.opts.Generator.Generate(ctx, c.request(prompt, sp, version), onToken)
		run.res = res
		return run, err
	}
	opts := c.opts.Tools
	reserve := toolsTokens(c.countTokens, offered)
	budget, cancel := context.WithTimeout(ctx, opts.Budget)
	defer cancel()
	allowed := map[string]bool{}
	for _, t := range offered {
		allowed[t.Function.Name] = true
	}
	shown, gap := false, false
	emit := func(tok string) {
		if tok == "" {
			return
		}
		if gap {
			tok, gap = "\n\n"+strings.TrimLeft(tok, "\n"), false
		}
		shown = true
		onToken(tok)
	}
	answerTokens := 0
	for round := 0; ; round++ {
		req := c.request(append(slices.Clone(prompt), run.steps...), sp, version)
		withTools := round < opts.MaxRounds && budget.Err() == nil && !run.withdrawn
		if withTools {
			req.Tools = offered
		}
		res, err := c.opts.Generator.Generate(ctx, req, emit)
		if err != nil && withTools && round == 0 && !shown && ctx.Err() == nil {
			// The model (or its server) may not take tools at all: answer
			// without them, and offer none for a while if that works.
			c.log.Warn("the model failed with tools offered; answering without them", "err", err)
			run.withdrawn, withTools = true, false
			res, err = c.opts.Generator.Generate(ctx, c.request(prompt, sp, version), emit)
			if err == nil {
				c.log.Warn("tools are not offered for a while: the model answered only without them", "pause", toolsPause)
				c.toolsPausedUntil.Store(c.opts.Now().Add(toolsPause).UnixNano())
			}
		}
		answerTokens += res.AnswerTokens
		if err != nil || !withTools || len(res.ToolCalls) == 0 {
			if len(res.ToolCalls) > 0 {
				c.log.Info("tool calls after the last round ignored", "calls", len(res.ToolCalls))
			}
			res.ToolCalls = nil
			res.AnswerTokens = answerTokens
			run.res = res
			return run, err
		}
		calls := slices.Clone(res.ToolCalls)
		for i := range calls {
			if calls[i].ID == "" {
				calls[i].ID = fmt.Sprintf("call_%d_%d", round+1, i+1)
			}
			if calls[i].Type == "" {
				calls[i].Type = "function"
			}
		}
		run.steps = append(run.steps, Turn{Role: RoleAssistant, Content: res.Text, ToolCalls: calls})
		gap = shown
		for i, call := range calls {
			var text string
			if i >= maxCallsPerRound {
				text = fmt.Sprintf("Error: not run: at most %d calls are run in one round.", maxCallsPerRound)
			} else {
				c.showStatus(ctx, r, m, call)
				text = c.callTool(budget, allowed, call, &run.sources)
				text = c.fitResult(text, append(slices.Clone(prompt), run.steps...), reserve)
			}
			run.steps = append(run.steps, Turn{Role: RoleTool, ToolCallID: call.ID, Name: call.Function.Name, Content: text})
		}
	}
}

// callTool runs one call and returns what the model is told: the result,
// its sources renumbered into the answer's list, or why there is none.
func (c *Core) callTool(ctx context.Context, allowed map[string]bool, call chat.ToolCall, sources *sourceList) string {
	name := call.Function.Name
	if !allowed[name] {
		names := make([]string, 0, len(allowed))
		for n := range allowed {
			names = append(names, n)
		}
		slices.Sort(names)
		why := "there is no tool of that name"
		for _, s := range c.opts.Tools.Box.Tools() {
			if s.Tool.Function.Name == name {
				why = "it is not allowed in this chat"
			}
		}
		return fmt.Sprintf("Error: %q cannot be called: %s. The tools here are: %s.", name, why, strings.Join(names, ", "))
	}
	if ctx.Err() != nil {
		return "Error: not run: this answer's time for tools is spent. Answer with what you have."
	}
	args, err := objectArguments(call.Function.Arguments)
	if err != nil {
		return "Error: " + err.Error()
	}
	begun := time.Now()
	res, err := c.opts.Tools.Box.Call(ctx, name, args)
	c.log.Info("tool call", "tool", name, "ok", err == nil, "took", time.Since(begun).Round(time.Millisecond))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Sprintf("Error: the call timed out (this answer's time for tools, %v, is spent). Answer with what you have.", c.opts.Tools.Budget)
		}
		return "Error: " + err.Error()
	}
	text := sources.add(res)
	if strings.TrimSpace(text) == "" {
		text = "(the tool returned nothing)"
	}
	return text
}

// objectArguments checks that a call's arguments are a JSON object; a
// JSON string holding one (some models encode twice) is unwrapped, and
// empty means {}.
func objectArguments(args string) (json.RawMessage, error) {
	s := strings.TrimSpace(args)
	if s == "" || s == "null" {
		return json.RawMessage("{}"), nil
	}
	if strings.HasPrefix(s, `"`) {
		var inner string
		if json.Unmarshal([]byte(s), &inner) == nil {
			s = strings.TrimSpace(inner)
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("the arguments must be a JSON object, such as {\"query\": \"…\"}; got %.200q", args)
	}
	return json.RawMessage(s), nil
}

// fitResult cuts a tool's text to the token budget, and further when the
// conversation so far (prompt and steps) leaves less room in the context
// window before the answer's MaxTokens (reserve: the tools' descriptions).
func (c *Core) fitResult(text string, sofar []Turn, reserve int) string {
	limit := c.opts.Tools.MaxResultTokens
	if w := c.promptWindow(); w > 0 {
		room := w - reserve - c.promptTokens(sofar) - perMessageTokens
		if room < MinToolResultTokens {
			return "Error: no room is left in the context window for this result. Answer with what you have."
		}
		limit = min(limit, room)
	}
	return truncateTokens(c.countTokens, text, limit)
}

// toolsTokens estimates the prompt tokens the tools' descriptions take:
// their JSON, and room for the template's words around it.
func toolsTokens(count func(string) int, tools []chat.Tool) int {
	if len(tools) == 0 {
		return 0
	}
	b, err := json.Marshal(tools)
	if err != nil {
		return 0
	}
	return count(string(b)) + toolsFraming
}

// toolsFraming is what a template writes around the tools' descriptions
// (Qwen's "# Tools" block with its instructions takes about 100 tokens).
const toolsFraming = 160

// truncateTokens cuts text to at most limit tokens (as count counts them),
// with the cut marked.
func truncateTokens(count func(string) int, text string, limit int) string {
	if count(text) <= limit {
		return text
	}
	marker := fmt.Sprintf("\n…[cut to %d tokens]", limit)
	runes := []rune(text)
	lo, hi := 0, len(runes) // the longest prefix that fits is in [lo, hi)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if count(string(runes[:mid])+marker) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return strings.TrimRightFunc(string(runes[:lo]), func(r rune) bool { return r == ' ' || r == '\n' }) + marker
}

// showStatus tells the asker what the answer waits on.
func (c *Core) showStatus(ctx context.Context, r Replier, m Message, call chat.ToolCall) {
	if s, ok := r.(Statuser); ok {
		if err := s.Status(ctx, toolStatus(m.Text, call)); err != nil {
			c.log.Debug("tool status", "err", err)
		}
		return
	}
	if t, ok := r.(Typer); ok {
		if err := t.Typing(ctx); err != nil {
			c.log.Debug("typing indicator", "err", err)
		}
	}
}

// toolStatus is the status line of a call: what is searched, which site
// is read, or which tool runs.
func toolStatus(question string, call chat.ToolCall) string {
	var args struct {
		Query string `json:"query"`
		URL   string `json:"url"`
	}
	raw, err := objectArguments(call.Function.Arguments)
	if err == nil {
		_ = json.Unmarshal(raw, &args)
	}
	switch {
	case call.Function.Name == "web_search" && args.Query != "":
		return phrase(question, "🔎 searching: ", "🔎 正在搜索：") + clip(args.Query, 80)
	case call.Function.Name == "fetch_url" && args.URL != "":
		host := args.URL
		if u, err := url.Parse(args.URL); err == nil && u.Host != "" {
			host = u.Host
		}
		return phrase(question, "🌐 reading: ", "🌐 正在阅读：") + clip(host, 80)
	}
	return phrase(question, "🛠 using: ", "🛠 正在使用：") + clip(call.Function.Name, 80)
}

// clip squeezes s onto one line of at most n runes.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
