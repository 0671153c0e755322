package feedback

import (
	"testing"

	"github.com/chatloop/chatloop/bot"
)

// TestForgetKnown: Forget says whether the id occurs in the database at
// all, so that a caller can tell a wrong id form from a person with
// nothing to remove.
func TestForgetKnown(t *testing.T) {
	s := openTest(t, Options{})
	a := answer("a1", "g1", "wechat", "group:Family", "Alice", t0, "hello")
	must(t, s.RecordAnswer(bg, a))
	must(t, s.Vote(bg, a.ID, "wechat", "~Bob", 1))
	cases := []struct {
		platform string
		user     bot.UserID
		prompts  bool
		known    bool
	}{
		{"wechat", "wxid_abc", false, false},
		{"wechat", "wxid_abc", true, false},
		{"discord", "Alice", false, false}, // the same name on another platform is another person
		{"wechat", "Alice", false, true},   // an asker who never voted
		{"wechat", "~Bob", false, true},
		{"wechat", "Alice", true, true},
	}
	for _, c := range cases {
		f, err := s.Forget(bg, c.platform, c.user, c.prompts)
		must(t, err)
		if f.Known != c.known {
			t.Errorf("%s:%s (prompts %v): known %v, want %v (%+v)", c.platform, c.user, c.prompts, f.Known, c.known, f)
		}
	}
}
