package wecom

import (
	"strings"
	"testing"
	"time"
)

// TestAllowedUsers is issue 15's item 10 for WeCom: with allowed_users
// set, only those members' messages and votes reach the core; empty means
// every member who can see the application.
func TestAllowedUsers(t *testing.T) {
	f := newFakeWeCom(t)
	st := openStore(t)
	core := startCore(t, st, nil)
	cfg := testConfig(t, f)
	cfg.AllowedUsers = []string{"zhangsan"}
	target, _ := startAdapter(t, cfg, core)

	f.post(t, target, f.seal(textXML("lisi", "I am not on the list", 3001), time.Now()))
	f.post(t, target, f.seal(textXML("lisi", "👍", 3002), time.Now()))
	f.post(t, target, f.seal(textXML("zhangsan", "I am on the list", 3003), time.Now()))
	sent := f.waitSent(t, 0, 1)
	time.Sleep(300 * time.Millisecond) // an answer to lisi would be sent by now
	sent = f.sentFrom(0)
	for _, m := range sent {
		if m.ToUser != "zhangsan" {
			t.Errorf("sent %+v to someone not in allowed_users", m)
		}
	}
	if len(sent) == 0 {
		t.Fatal("zhangsan got no answer")
	}
}

func TestAllowedUsersConfig(t *testing.T) {
	c := DefaultConfig()
	c.AllowedUsers = []string{"zhangsan", " "}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "allowed_users") {
		t.Errorf("a blank user: %v, want an error naming allowed_users", err)
	}
}
