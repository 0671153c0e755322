package main

import (
	"fmt"
	"strings"

	"github.com/chatloop/chatloop/adapters/console"
	"github.com/chatloop/chatloop/adapters/discord"
	"github.com/chatloop/chatloop/adapters/wechat"
	"github.com/chatloop/chatloop/adapters/wecom"
)

// userIDForms says, per platform, how a person's id is written as
// PLATFORM:ID: the form its adapter stores.
var userIDForms = []struct{ platform, forms string }{
	{discord.Platform, discord.UserIDForms},
	{wechat.Platform, wechat.UserIDForms},
	{wecom.Platform, wecom.UserIDForms},
	{console.Platform, console.UserIDForms},
}

// userIDFormsHelp lists every platform's id forms, for help texts.
func userIDFormsHelp() string {
	var b strings.Builder
	for i, f := range userIDForms {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  %-8s %s", f.platform, f.forms)
	}
	return b.String()
}

// unknownUserError says that platform:id matches nobody in the database
// and which id forms the platform has.
func unknownUserError(platform, id string) error {
	for _, f := range userIDForms {
		if f.platform == platform {
			return fmt.Errorf("%s:%s matches nothing in the database (no votes, choices or questions). %s people are stored by %s", platform, id, platform, f.forms)
		}
	}
	return fmt.Errorf("%s:%s matches nothing in the database (no votes, choices or questions), and %q is none of the platforms chatloop knows (%s)", platform, id, platform, knownPlatforms())
}

func knownPlatforms() string {
	names := make([]string, len(userIDForms))
	for i, f := range userIDForms {
		names[i] = f.platform
	}
	return strings.Join(names, ", ")
}
