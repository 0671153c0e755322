package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model"
	"github.com/chatloop/chatloop/model/chat"
)

// openLocalBackend loads the GGUF model the configuration names.
func (a *app) openLocalBackend(cmd *cobra.Command, cfg *Config) (*backend, error) {
	// The engine serves the [model] adapters and those [bot] ab_adapters
	// names; each request chooses its own.
	engineCfg, err := withABAdapters(cfg)
	if err != nil {
		return nil, err
	}
	e, err := a.loadEngine(cmd, engineCfg)
	if err != nil {
		return nil, err
	}
	sc, err := a.openScorer(cfg, e)
	if err != nil {
		e.Close()
		return nil, err
	}
	return &backend{gen: newLocalGenerator(e, cfg.Model.Adapters, len(cfg.Bot.ABAdapters) > 0), counter: engineCounter{e}, scorer: sc, close: e.Close, context: e.ContextSize()}, nil
}

// engineCounter counts tokens, and whole prompts through the chat
// template, with the engine's tokenizer (bot.PromptCounter).
type engineCounter struct{ e *model.Engine }

func (c engineCounter) CountTokens(text string) int { return c.e.CountTokens(text) }

func (c engineCounter) CountPromptTokens(prompt []bot.Turn) int {
	return len(c.e.PromptTokens(model.Request{Messages: prompt}))
}

// localGenerator bridges the engine to the core's Generator interface.
type localGenerator struct {
	e *model.Engine
	// info is the version a request without a choice gets; chooses is
	// true when the engine serves more adapters than that version has
	// (ab_adapters), so that such a request names its adapters.
	info     bot.ModelInfo
	defaults []string // the [model] adapters' paths
	chooses  bool
	shaOnce  sync.Once
	sha      string
}

// newLocalGenerator answers with the engine; defaults are the paths of
// the adapters a request without a version choice gets (the [model]
// adapters), and choosing is true when requests may choose others.
func newLocalGenerator(e *model.Engine, defaults []string, choosing bool) *localGenerator {
	g := &localGenerator{e: e, defaults: defaults, chooses: choosing}
	if !choosing {
		g.defaults = nil
		for _, a := range e.Info().Adapters {
			g.defaults = append(g.defaults, a.Path)
		}
	}
	g.info = g.versionInfo(g.defaults)
	return g
}

// versionInfo is the model version of the base with the adapters at
// paths: the adapters' short names ("+tuned-3f2a") tell the base and each
// tuned version apart in the answers' records.
func (g *localGenerator) versionInfo(paths []string) bot.ModelInfo {
	i := g.e.Info()
	var chosen []model.AdapterInfo
	for _, p := range paths {
		for _, a := range i.Adapters {
			if a.Path == p {
				chosen = append(chosen, a)
				break
			}
		}
	}
	return bot.ModelInfo{Backend: "local", Name: i.Name + versionSuffix(chosen), Quantization: i.Quantization, Template: i.Template, Adapters: adapterVersions(chosen)}
}

// Generate implements bot.Generator.
func (g *localGenerator) Generate(ctx context.Context, req bot.Request, onToken func(string)) (bot.Result, error) {
	mreq := model.Request{
		Messages:  req.Messages,
		MaxTokens: req.MaxTokens,
		Stop:      req.Stop,
		Sampling: model.SamplingParams{
			Temperature:   req.Sampling.Temperature,
			TopK:          req.Sampling.TopK,
			TopP:          req.Sampling.TopP,
			MinP:          req.Sampling.MinP,
			RepeatPenalty: req.Sampling.RepeatPenalty,
			Seed:          req.Sampling.Seed,
		},
	}
	info := g.info
	switch {
	case req.Version != nil:
		info = g.versionInfo([]string{req.Version.Adapter})
		if req.Version.Base() {
			mreq.Base = true
		} else {
			mreq.Adapters = []string{req.Version.Adapter}
		}
	case g.chooses && len(g.defaults) == 0:
		mreq.Base = true
	case g.chooses:
		mreq.Adapters = g.defaults
	}
	mreq.Tools = req.Tools
	calls := newCallReader(g.e.ToolCallFormat(), req, onToken)
	res, err := g.e.Generate(ctx, mreq, calls.write)
	text, toolCalls := calls.close(res.Text)
	// The digest is computed in the background from load on; the first
	// answer waits for it.
	g.shaOnce.Do(func() { g.sha, _ = g.e.FileSHA256() })
	info.SHA256 = g.sha
	out := bot.Result{Text: text, ToolCalls: toolCalls, PromptTokens: res.PromptTokens, AnswerTokens: res.AnswerTokens, Truncated: res.Truncated, Model: info}
	if err != nil {
		return out, fmt.Errorf("local model: %w", err)
	}
	return out, nil
}

// callReader takes the tool calls out of a streamed answer when tools are
// offered: the person sees the visible text only, and the calls get ids
// that go on from those already in the conversation ("call_1", …).
type callReader struct {
	parser  *chat.ToolCallParser // nil: no tools offered, the text is the answer
	onToken func(string)
	visible strings.Builder
	next    int // the number of the next call's id
}

func newCallReader(f chat.ToolCallFormat, req bot.Request, onToken func(string)) *callReader {
	r := &callReader{onToken: onToken, next: 1}
	if len(req.Tools) > 0 {
		r.parser = chat.NewToolCallParser(f)
	}
	for _, m := range req.Messages {
		r.next += len(m.ToolCalls)
	}
	return r
}

func (r *callReader) write(s string) {
	if r.parser != nil {
		s = r.parser.Write(s)
	}
	r.show(s)
}

// show passes visible text on.
func (r *callReader) show(s string) {
	r.visible.WriteString(s)
	if s != "" && r.onToken != nil {
		r.onToken(s)
	}
}

// close ends the answer whose whole text is text: the visible text and
// the calls.
func (r *callReader) close(text string) (string, []chat.ToolCall) {
	if r.parser == nil {
		return text, nil
	}
	rest, calls := r.parser.Close()
	r.show(rest)
	for i := range calls {
		calls[i].ID = fmt.Sprintf("call_%d", r.next)
		r.next++
	}
	return r.visible.String(), calls
}
