package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// testStore is the real bbolt feedback store, with votes and choices read
// back through its raw export.
type testStore struct {
	*feedback.Store
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
	ts := &testStore{Store: s, path: path}
	t.Cleanup(func() { _ = ts.Close() })
	return ts
}

// raw returns the raw export row of answer id.
func (s *testStore) raw(id bot.AnswerID) (feedback.RawRow, bool) {
	var buf bytes.Buffer
	if _, err := s.Export(context.Background(), &buf, feedback.ExportOptions{Format: feedback.FormatRaw, IncludeDemo: true}); err != nil {
		return feedback.RawRow{}, false
	}
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var row feedback.RawRow
		if err := dec.Decode(&row); err != nil {
			return feedback.RawRow{}, false
		}
		if row.ID == string(id) {
			return row, true
		}
	}
	return feedback.RawRow{}, false
}

// voteOf returns voter's vote on answer id.
func (s *testStore) voteOf(id bot.AnswerID, voter bot.UserID) (int, bool) {
	row, ok := s.raw(id)
	if !ok {
		return 0, false
	}
	hash := s.HashUser(Platform, voter)
	for _, v := range row.Votes {
		if v.VoterHash == hash {
			return v.Value, true
		}
	}
	return 0, false
}

// choiceOf reports whether voter chose winner over loser.
func (s *testStore) choiceOf(winner, loser bot.AnswerID, voter bot.UserID) bool {
	row, ok := s.raw(winner)
	if !ok {
		return false
	}
	hash := s.HashUser(Platform, voter)
	for _, p := range row.Choices {
		if p.Winner == string(winner) && p.Loser == string(loser) && p.VoterHash == hash {
			return true
		}
	}
	return false
}
