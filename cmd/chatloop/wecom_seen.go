package main

import (
	"context"

	"github.com/chatloop/chatloop/adapters/wecom"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/internal/seen"
)

// newWeCom builds the WeCom adapter with its replay guard kept in
// DB.wecom-seen (next to the feedback database), so that a callback
// captured within max_clock_skew is refused after a restart too.
func newWeCom(cfg *Config, h bot.Handler, a *app) (runner, error) {
	set, err := seen.Open(cfg.Feedback.DB + ".wecom-seen")
	if err != nil {
		return nil, err
	}
	w, err := wecom.New(cfg.WeCom, h, a.logger().With("adapter", "wecom"), wecom.WithSeenStore(set))
	if err != nil {
		_ = set.Close()
		return nil, err
	}
	return closingRunner{w, set.Close}, nil
}

// closingRunner runs r and then releases what it used.
type closingRunner struct {
	r     runner
	close func() error
}

func (c closingRunner) Run(ctx context.Context) error {
	defer func() { _ = c.close() }()
	return c.r.Run(ctx)
}
