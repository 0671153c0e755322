package metrics

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// TestVoteFailuresCounted: votes and choices the feedback store fails to
// record (a real database, closed under the wrapper) are counted in
// chatloop_vote_failures_total and as store errors; votes refused because
// of the voter (an unknown answer, too many a minute) are not.
func TestVoteFailuresCounted(t *testing.T) {
	m := New()
	ctx := context.Background()
	fs, err := feedback.Open(filepath.Join(t.TempDir(), "f.db"), feedback.Options{MaxVotesPerMinute: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := m.Store(fs)
	if err := s.RecordAnswer(ctx, bot.Answer{ID: "01A", Platform: "discord"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Vote(ctx, "nope", "discord", "v1", 1); err == nil {
		t.Fatal("vote on an unknown answer: no error")
	}
	if err := s.Vote(ctx, "01A", "discord", "v1", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Vote(ctx, "01A", "discord", "v1", -1); err == nil {
		t.Fatal("second vote in a minute: no error")
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Vote(ctx, "01A", "discord", "v2", 1); err == nil {
		t.Fatal("vote on a closed store: no error")
	}
	if err := s.Choose(ctx, "01A", "01B", "wechat", "v2"); err == nil {
		t.Fatal("choice on a closed store: no error")
	}
	fams := scrape(t, m)
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"platform": "discord"}, 1},
		{map[string]string{"platform": "wechat"}, 1},
	} {
		if got := value(t, fams, "chatloop_vote_failures_total", c.labels); got != c.want {
			t.Errorf("chatloop_vote_failures_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := value(t, fams, "chatloop_errors_total", map[string]string{"kind": KindStore}); got != 2 {
		t.Errorf("store errors = %v, want 2 (the two failed votes)", got)
	}
}
