package discord

import (
	"context"
	"testing"

	"github.com/chatloop/chatloop/adapters/adaptertest"
)

// TestAdapterReportsConnection: the adapter says it is up once the gateway
// session is ready, down when the connection drops, and up again when
// discordgo has resumed it.
func TestAdapterReportsConnection(t *testing.T) {
	f := newFakeDiscord(t)
	conn := &adaptertest.ConnLog{}
	a, err := New(testConfig(f), newScriptHandler(), testLogger(t), WithToken(fakeToken), WithConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	n := conn.WaitFor(t, 0, "up")
	f.drop()
	// discordgo resumes at once: the down, then the up after it.
	conn.WaitFor(t, n, "down: "+errGatewayLost.Error(), "up")
}

// TestAdapterReportsUnreachable: a Discord that cannot be reached is
// reported down, with the reason, while the adapter retries. (A test of
// its own: discordgo's endpoints are process-wide, so two adapters
// against two fakes cannot run at once.)
func TestAdapterReportsUnreachable(t *testing.T) {
	f := newFakeDiscord(t)
	cfg := testConfig(f)
	f.close()
	conn := &adaptertest.ConnLog{}
	a, err := New(cfg, newScriptHandler(), testLogger(t), WithToken(fakeToken), WithConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	conn.WaitFor(t, 0, "down: discord: look up the bot user…")
}
