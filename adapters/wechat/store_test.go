package wechat

import (
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// testStore is the real bbolt feedback store, with votes and choices read
// back from the file (adaptertest).
type testStore struct {
	*feedback.Store
	t    *testing.T
	path string
}

// openTestStore opens a feedback database in dir, closed at the test's end.
func openTestStore(t *testing.T, dir string) *testStore {
	t.Helper()
	path := filepath.Join(dir, "feedback.db")
	s, err := feedback.Open(path, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testStore{Store: s, t: t, path: path}
	t.Cleanup(func() { _ = ts.Close() })
	return ts
}

// raw returns the raw export row of answer id.
func (s *testStore) raw(id bot.AnswerID) (feedback.RawRow, bool) {
	return adaptertest.Row(s.t, s.Store, id)
}

// voteOf returns voter's vote on answer id.
func (s *testStore) voteOf(id bot.AnswerID, voter bot.UserID) (int, bool) {
	return adaptertest.VoteOf(s.t, s.Store, Platform, id, voter)
}

// choiceOf reports whether voter chose winner over loser.
func (s *testStore) choiceOf(winner, loser bot.AnswerID, voter bot.UserID) bool {
	return adaptertest.ChoiceOf(s.t, s.Store, Platform, winner, loser, voter)
}
