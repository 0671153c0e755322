package main

import (
	"github.com/chatloop/chatloop/adapters/discord"
	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/adapters/wechat"
	"github.com/chatloop/chatloop/adapters/wecom"
)

// platforms is chatloop's platform table: every chat platform "chatloop
// run" can start, each with its configuration section, in this order in
// the configuration file and in help. Adding a platform is its folder
// under adapters/ exporting a platform.Spec, and one line here.
var platforms = platform.Table{
	discord.Spec,
	wechat.Spec,
	wecom.Spec,
}
