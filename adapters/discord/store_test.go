package discord

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// openTestStore opens the real feedback store on a bbolt file in a
// temporary directory, and returns it with a function that reads one
// person's vote on an answer back from the file (through the store's raw
// export, where voters appear as keyed hashes).
func openTestStore(t *testing.T) (*feedback.Store, func(bot.AnswerID, string) (int, bool)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "feedback.db")
	st, err := feedback.Open(path, feedback.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return st, func(id bot.AnswerID, voter string) (int, bool) { return readVote(t, st, id, voter) }
}

// readVote finds voter's vote on answer id in the store's raw export.
func readVote(t *testing.T, st *feedback.Store, id bot.AnswerID, voter string) (int, bool) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := st.Export(context.Background(), &buf, feedback.ExportOptions{Format: feedback.FormatRaw, Platform: Platform, IncludeDemo: true}); err != nil {
		t.Fatalf("export: %v", err)
	}
	hash := st.HashUser(Platform, bot.UserID(voter))
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var row feedback.RawRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("export row: %v", err)
		}
		if row.ID != string(id) {
			continue
		}
		for _, v := range row.Votes {
			if v.VoterHash == hash {
				return v.Value, true
			}
		}
		return 0, false
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return 0, false
}
