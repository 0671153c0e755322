package ilink

import (
	"testing"
	"time"
)

// TestBlockedUsers: [wechat] blocked_users holds for the iLink protocol
// too: a blocked person's messages and votes never reach the core.
func TestBlockedUsers(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	store := openTestStore(t, dir)
	core := startCore(t, store, 0)
	cfg := testConfig(f, dir)
	cfg.BlockedUsers = []string{bob}
	r := startAdapter(t, cfg, core)
	qrLogin(t, f, r, 1)

	f.says(bob, "I am blocked")
	f.says(alice, "hello there")
	sent := f.waitSent(t, 0, 1)
	time.Sleep(300 * time.Millisecond) // an answer to bob would be sent by now
	for _, m := range f.waitSent(t, 0, len(sent)) {
		if m.To == bob {
			t.Errorf("answered a blocked user: %+v", m)
		}
	}
}
