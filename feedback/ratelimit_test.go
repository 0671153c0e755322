package feedback

import (
	"errors"
	"testing"
	"time"
)

func TestMaxVotesPerMinute(t *testing.T) {
	clock := &fakeClock{t: t0}
	s := openTest(t, Options{Now: clock.now, MaxVotesPerMinute: 3})
	for _, id := range []string{"01A", "01B"} {
		must(t, s.RecordAnswer(bg, answer(id, "g", "discord", "c", "u", t0, "hi")))
	}
	// A burst of 3, counting changes, removals and choices alike.
	must(t, s.Vote(bg, "01A", "discord", "flood", 1))
	must(t, s.Vote(bg, "01A", "discord", "flood", -1))
	must(t, s.Choose(bg, "01A", "01B", "discord", "flood"))
	if err := s.Vote(bg, "01B", "discord", "flood", 1); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("4th vote in a minute: got %v, want ErrRateLimited", err)
	}
	if err := s.Choose(bg, "01B", "01A", "discord", "flood"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("choice beyond the cap: got %v, want ErrRateLimited", err)
	}
	// Someone else is not held back; the same id on another platform is
	// another person.
	must(t, s.Vote(bg, "01B", "discord", "calm", 1))
	must(t, s.Vote(bg, "01B", "wechat", "flood", 1))
	// One vote every 20 s comes back.
	clock.t = t0.Add(21 * time.Second)
	must(t, s.Vote(bg, "01B", "discord", "flood", 1))
	if err := s.Vote(bg, "01B", "discord", "flood", -1); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second vote 21 s later: got %v, want ErrRateLimited", err)
	}
	// The refused votes stored nothing: flood's vote on 01A is the -1,
	// on 01B the +1 of 21 s.
	st, err := s.Stats(bg)
	must(t, err)
	if st.Up != 3 || st.Down != 1 || st.Choices != 1 {
		t.Errorf("stored: %d up, %d down, %d choices; want 3, 1, 1", st.Up, st.Down, st.Choices)
	}
}

func TestVoteLimiterBoundsVoters(t *testing.T) {
	now := t0
	l := newVoteLimiter(5, func() time.Time { return now })
	for i := range maxTrackedVoters {
		if !l.allow(string(rune(i + 1))) {
			t.Fatalf("voter %d refused", i)
		}
	}
	if l.allow("one more") {
		t.Error("a new voter beyond the bound within a minute was allowed")
	}
	now = now.Add(2 * time.Minute)
	if !l.allow("one more") || len(l.voters) != 1 {
		t.Errorf("after idle voters expire: %d tracked", len(l.voters))
	}
	if newVoteLimiter(0, time.Now) != nil || !(*voteLimiter)(nil).allow("x") {
		t.Error("no cap should allow everything")
	}
}
