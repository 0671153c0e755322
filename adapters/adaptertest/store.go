// Package adaptertest holds what the adapters' tests share: the real
// feedback store on a bbolt file in the test's temporary directory, with
// the answers, votes and choices read back from the file the way an
// export sees them (voters only as keyed hashes), and a log buffer safe
// for the goroutines of an adapter.
//
// It is imported by tests only; the adapters themselves never import the
// feedback store.
package adaptertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// OpenStore opens the real feedback store on a new bbolt file in
// t.TempDir(); at cleanup it checks the file's consistency and closes it
// (a test may close it first).
func OpenStore(t testing.TB) *feedback.Store {
	t.Helper()
	st, err := feedback.Open(filepath.Join(t.TempDir(), "feedback.db"), feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(context.Background()); err != nil && !errors.Is(err, bolt.ErrDatabaseNotOpen) {
			t.Errorf("the feedback file: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return st
}

// Rows reads every answer of the store (demo answers included) from its
// raw export, by answer id.
func Rows(t testing.TB, st *feedback.Store) map[bot.AnswerID]feedback.RawRow {
	t.Helper()
	var buf bytes.Buffer
	if _, err := st.Export(context.Background(), &buf, feedback.ExportOptions{Format: feedback.FormatRaw, IncludeDemo: true}); err != nil {
		t.Fatalf("export: %v", err)
	}
	rows := map[bot.AnswerID]feedback.RawRow{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var row feedback.RawRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("export row: %v", err)
		}
		rows[bot.AnswerID(row.ID)] = row
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("export: %v", err)
	}
	return rows
}

// Row reads answer id's row of the raw export.
func Row(t testing.TB, st *feedback.Store, id bot.AnswerID) (feedback.RawRow, bool) {
	t.Helper()
	row, ok := Rows(t, st)[id]
	return row, ok
}

// VoteOf reads the vote of voter (a platform user id) on answer id back
// from the file; false when there is none.
func VoteOf(t testing.TB, st *feedback.Store, platform string, id bot.AnswerID, voter bot.UserID) (int, bool) {
	t.Helper()
	row, _ := Row(t, st, id)
	hash := st.HashUser(platform, voter)
	for _, v := range row.Votes {
		if v.VoterHash == hash {
			return v.Value, true
		}
	}
	return 0, false
}

// ChoiceOf reports whether voter chose answer winner over loser (an A/B
// choice).
func ChoiceOf(t testing.TB, st *feedback.Store, platform string, winner, loser bot.AnswerID, voter bot.UserID) bool {
	t.Helper()
	row, ok := Row(t, st, winner)
	if !ok {
		return false
	}
	hash := st.HashUser(platform, voter)
	for _, c := range row.Choices {
		if c.Winner == string(winner) && c.Loser == string(loser) && c.VoterHash == hash {
			return true
		}
	}
	return false
}

// SyncBuffer collects log output from several goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
