package main

import (
	"cmp"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/bot"
)

// backend is a generator with what else the core needs from the model.
type backend struct {
	gen     bot.Generator
	counter bot.TokenCounter // nil: the core estimates
	scorer  bot.Scorer       // nil: no reward model
	context int              // context window in tokens; 0: unknown
	close   func() error
}

// openBackend makes the generator the configuration asks for.
func (a *app) openBackend(cmd *cobra.Command, cfg *Config) (*backend, error) {
	if err := checkABBackend(cfg); err != nil {
		return nil, err
	}
	switch cfg.Model.Backend {
	case "demo", "openai":
		if _, err := a.openScorer(cfg, nil); err != nil {
			return nil, err // a reward head needs the local engine's features
		}
	}
	switch cfg.Model.Backend {
	case "demo":
		return newDemoBackend(), nil
	case "local":
		return a.openLocalBackend(cmd, cfg)
	case "openai":
		return a.openRemoteBackend(cmd, cfg)
	}
	return nil, fmt.Errorf("model.backend %q is not one of local, openai, demo", cfg.Model.Backend)
}

// newCore builds the conversation core over a backend and a store, with
// the model settings of cfg and the bot settings botCfg.
func (a *app) newCore(cfg *Config, botCfg bot.Config, be *backend, store bot.FeedbackStore) (*bot.Core, error) {
	return bot.NewCore(bot.Options{
		Config:    botCfg,
		Generator: be.gen,
		Store:     store,
		Counter:   be.counter,
		Logger:    a.logger(),
		Sampling:  cfg.Model.Sampling,
		MaxTokens: cfg.Model.MaxTokens,
		Stop:      cfg.Model.Stop,
		BestOf:    cfg.Reward.BestOf,
		Scorer:    be.scorer,
		Observer:  a.observer,
		Tools:     a.tools,
		// The prompt is fitted to the engine's window, or to model.context
		// for a remote server.
		ContextTokens: cmp.Or(be.context, cfg.Model.Context),
	})
}
