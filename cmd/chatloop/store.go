package main

import (
	"errors"
	"fmt"

	"github.com/chatloop/chatloop/feedback"
)

// openStore opens the feedback database the configuration names.
func (a *app) openStore(cfg *Config) (*feedback.Store, error) {
	s, err := feedback.Open(cfg.Feedback.DB, feedback.Options{MaxVotesPerMinute: cfg.Feedback.MaxVotesPerMinute})
	if errors.Is(err, feedback.ErrLocked) {
		return nil, fmt.Errorf("%w\n(give this command another database with --db)", err)
	}
	return s, err
}
