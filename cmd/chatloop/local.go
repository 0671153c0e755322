package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model"
)

// openLocalBackend loads the GGUF model the configuration names.
func (a *app) openLocalBackend(cmd *cobra.Command, cfg *Config) (*backend, error) {
	e, err := a.loadEngine(cmd, cfg)
	if err != nil {
		return nil, err
	}
	sc, err := a.openScorer(cfg, e)
	if err != nil {
		e.Close()
		return nil, err
	}
	return &backend{gen: newLocalGenerator(e), counter: engineCounter{e}, scorer: sc, close: e.Close, context: e.ContextSize()}, nil
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
	e       *model.Engine
	info    bot.ModelInfo
	shaOnce sync.Once
}

func newLocalGenerator(e *model.Engine) *localGenerator {
	i := e.Info()
	// The adapters' short names ("+tuned-3f2a") tell the base and each
	// tuned version apart in the answers' records.
	return &localGenerator{e: e, info: bot.ModelInfo{Backend: "local", Name: i.Name + adapterSuffix(i.Adapters), Quantization: i.Quantization, Template: i.Template}}
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
	res, err := g.e.Generate(ctx, mreq, onToken)
	// The digest is computed in the background from load on; the first
	// answer waits for it.
	g.shaOnce.Do(func() { g.info.SHA256, _ = g.e.FileSHA256() })
	info := g.info
	out := bot.Result{Text: res.Text, PromptTokens: res.PromptTokens, AnswerTokens: res.AnswerTokens, Truncated: res.Truncated, Model: info}
	if err != nil {
		return out, fmt.Errorf("local model: %w", err)
	}
	return out, nil
}
