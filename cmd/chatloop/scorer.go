package main

import (
	"fmt"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback/reward"
	"github.com/chatloop/chatloop/model"
)

// newEngineFeaturizer makes reward features with the local engine.
func newEngineFeaturizer(e *model.Engine) (*reward.ModelFeaturizer, error) {
	return reward.NewModelFeaturizer(e, e.Info().Name)
}

var _ bot.Scorer = (*reward.Scorer)(nil)

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
	return &reward.Scorer{Featurizer: f, Head: head}, nil
}
