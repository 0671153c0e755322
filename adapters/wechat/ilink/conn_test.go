package ilink

import (
	"testing"

	"github.com/chatloop/chatloop/adapters/adaptertest"
)

// TestAdapterReportsConnection: down while the QR code waits for a scan,
// up once getupdates answers, down while it fails and up when it answers
// again, down when WeChat ends the session.
func TestAdapterReportsConnection(t *testing.T) {
	f := newFakeILink(t)
	dir := t.TempDir()
	core := startCore(t, openTestStore(t, dir), 0)
	conn := &adaptertest.ConnLog{}
	r := startAdapter(t, testConfig(f, dir), core, WithConn(conn))
	n := conn.WaitFor(t, 0, "down: "+ErrQRLoginNeeded.Error())
	qrLogin(t, f, r, 1)
	n = conn.WaitFor(t, n, "up")

	f.mu.Lock()
	f.failPolls = 2
	f.mu.Unlock()
	n = conn.WaitFor(t, n, "down: getupdates: …", "up")

	f.expireTokens()
	conn.WaitFor(t, n, "down: "+ErrSessionExpired.Error(), "down: "+ErrQRLoginNeeded.Error())
}
