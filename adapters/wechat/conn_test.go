package wechat

import (
	"testing"

	"github.com/chatloop/chatloop/adapters/adaptertest"
)

// TestAdapterReportsConnection: down while the QR code waits for a scan,
// up once logged in, down while sync checks fail and up when one answers
// again, down when WeChat drops the login.
func TestAdapterReportsConnection(t *testing.T) {
	f := newFakeWeChat(t)
	conn := &adaptertest.ConnLog{}
	r := startAdapter(t, f, testConfig(t.TempDir()), &recorder{}, func(a *Adapter) { a.conn = conn })
	n := conn.WaitFor(t, 0, "down: "+ErrQRLoginNeeded.Error())
	qrLogin(t, f, r, 1, 1)
	n = conn.WaitFor(t, n, "up")

	f.garble(2)
	n = conn.WaitFor(t, n, "down: sync check: …", "up")

	f.invalidate()
	conn.WaitFor(t, n, "down: the login was lost…")
}
