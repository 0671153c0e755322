package main

import (
	"context"
	"fmt"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback/reward"
	"github.com/chatloop/chatloop/model"
)

// rewardFeature names how reward features are taken from the engine: the
// final hidden state (after the output norm) of the last token of the
// prompt and answer rendered with the chat template.
const rewardFeature = "last-token-final-norm/v1"

// engineFeaturizer makes reward features with the local engine.
type engineFeaturizer struct {
	e  *model.Engine
	bb reward.Backbone
}

func newEngineFeaturizer(e *model.Engine) (*engineFeaturizer, error) {
	sum, err := e.FileSHA256()
	if err != nil {
		return nil, fmt.Errorf("reward: identifying the model: %w", err)
	}
	return &engineFeaturizer{e: e, bb: reward.Backbone{SHA256: sum, Name: e.Info().Name, Dim: e.EmbedDim(), Feature: rewardFeature}}, nil
}

func (f *engineFeaturizer) Backbone() reward.Backbone { return f.bb }

func (f *engineFeaturizer) Features(ctx context.Context, prompt []reward.Message, answer string) ([]float32, error) {
	msgs := make([]model.Message, len(prompt))
	for i, m := range prompt {
		msgs[i] = model.Message{Role: m.Role, Content: m.Content}
	}
	return f.e.EmbedMessages(ctx, msgs, answer)
}

// rewardScorer is a trained head over the engine's features: the core's
// bot.Scorer for best-of-n.
type rewardScorer struct {
	f    reward.Featurizer
	head *reward.Head
}

// Score implements bot.Scorer.
func (s *rewardScorer) Score(ctx context.Context, prompt []bot.Turn, answer string) (float64, error) {
	msgs := make([]reward.Message, len(prompt))
	for i, t := range prompt {
		msgs[i] = reward.Message{Role: t.Role, Content: t.Content}
	}
	x, err := s.f.Features(ctx, msgs, answer)
	if err != nil {
		return 0, fmt.Errorf("reward: %w", err)
	}
	return s.head.Score(x)
}

// openScorer loads the reward head of [reward] path for engine; nil (and
// no error) when no head is configured. A head trained on another model
// is refused with a message naming both.
func (a *app) openScorer(cfg *Config, engine *model.Engine) (bot.Scorer, error) {
	if cfg.Reward.Path == "" {
		return nil, nil
	}
	if engine == nil {
		return nil, fmt.Errorf("[reward] path %s: a reward head needs the local backend (model.backend = \"local\")", cfg.Reward.Path)
	}
	f, err := newEngineFeaturizer(engine)
	if err != nil {
		return nil, err
	}
	head, err := reward.Load(cfg.Reward.Path, f.Backbone())
	if err != nil {
		return nil, fmt.Errorf("[reward] path: %w", err)
	}
	a.logger().Info("reward model loaded", "path", cfg.Reward.Path, "best_of", cfg.Reward.BestOf,
		"held_out_accuracy", head.Training.HeldOutAccuracy)
	return &rewardScorer{f: f, head: head}, nil
}
