package wechat

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/adapters/wechat/ilink"
	"github.com/chatloop/chatloop/bot"
)

// Runner is a WeChat adapter of either protocol: it runs until ctx is
// done.
type Runner interface {
	Run(ctx context.Context) error
}

// Open builds the adapter of the protocol cfg names: ilink.Adapter for
// "ilink", Adapter (openwechat) for "web". Both report platform "wechat".
// conn receives the adapter's connection state; opts apply to the iLink
// adapter.
func Open(cfg Config, h bot.Handler, log *slog.Logger, conn platform.Conn, opts ...ilink.Option) (Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	if cfg.Protocol == ProtocolWeb {
		return New(cfg, h, log, WithConn(conn))
	}
	return ilink.New(cfg.ILink(), h, log, append([]ilink.Option{ilink.WithConn(conn)}, opts...)...)
}
