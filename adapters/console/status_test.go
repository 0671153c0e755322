package console

import (
	"bytes"
	"context"
	"testing"

	"github.com/chatloop/chatloop/bot"
)

// TestStatusAtTheTerminalOnly: a tool's status is shown at a terminal
// (cleaned of control characters) and left out of piped output.
func TestStatusAtTheTerminalOnly(t *testing.T) {
	for _, interactive := range []bool{true, false} {
		var out bytes.Buffer
		r := &replier{c: New(&echoHandler{}, nil, &out, Options{Interactive: interactive}), done: make(chan struct{})}
		if err := bot.Statuser(r).Status(context.Background(), "🔎 searching: go\x1b[2J"); err != nil {
			t.Fatal(err)
		}
		want := ""
		if interactive {
			want = "    🔎 searching: go\n"
		}
		if out.String() != want {
			t.Errorf("interactive %v: printed %q, want %q", interactive, out.String(), want)
		}
	}
}
