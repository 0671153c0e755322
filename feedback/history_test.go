package feedback

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestVoteHistory: changes are kept, counted once, and forgotten with the
// voter or the answer.
func TestVoteHistory(t *testing.T) {
	clock := &fakeClock{t: t0}
	s := openTest(t, Options{Now: clock.now})
	must(t, s.RecordAnswer(bg, answer("01A", "", "discord", "c", "asker", t0, "hi")))
	must(t, s.RecordAnswer(bg, answer("01B", "", "discord", "c", "asker", t0, "hello")))
	for i, v := range []int{1, -1, 0, 1} {
		clock.t = t0.Add(time.Duration(i) * time.Minute)
		must(t, s.Vote(bg, "01A", "discord", "flipper", v))
	}
	must(t, s.Vote(bg, "01A", "discord", "other", -1))
	must(t, s.Vote(bg, "01B", "discord", "flipper", 1))

	st, err := s.Stats(bg)
	must(t, err)
	if st.Up != 2 || st.Down != 1 || st.Votes != 3 {
		t.Errorf("counted: %d up, %d down, %d votes; want 2, 1, 3 (one per person per answer)", st.Up, st.Down, st.Votes)
	}
	var hist map[string][]RawVote
	must(t, s.db.View(func(tx *bolt.Tx) error {
		var err error
		hist, err = voteHistory(tx)
		return err
	}))
	flips := []int{}
	for _, v := range hist["01A"] {
		if v.VoterHash == s.HashUser("discord", "flipper") {
			flips = append(flips, v.Value)
		}
	}
	if len(flips) != 4 || flips[0] != 1 || flips[1] != -1 || flips[2] != 0 || flips[3] != 1 {
		t.Errorf("history of flipper on 01A: %v, want [1 -1 0 1]", flips)
	}

	// Forgetting the voter removes their history too.
	_, err = s.Forget(bg, "discord", "flipper", false)
	must(t, err)
	must(t, s.db.View(func(tx *bolt.Tx) error {
		var err error
		hist, err = voteHistory(tx)
		return err
	}))
	for id, h := range hist {
		for _, v := range h {
			if v.VoterHash == s.HashUser("discord", "flipper") {
				t.Errorf("flipper's history on %s survived forget", id)
			}
		}
	}
	if len(hist["01A"]) != 1 {
		t.Errorf("other's history: %v", hist["01A"])
	}
	// Forgetting the asker's answers removes their history.
	_, err = s.Forget(bg, "discord", "asker", true)
	must(t, err)
	must(t, s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketVoteLog).Cursor().First(); k != nil {
			t.Errorf("history left after the answers were forgotten: %q", k)
		}
		return nil
	}))
}

// TestMigrateV3 starts the history of a version 2 file with its votes.
func TestMigrateV3(t *testing.T) {
	path := t.TempDir() + "/v2.db"
	s, err := Open(path, Options{Now: func() time.Time { return t0 }})
	must(t, err)
	must(t, s.RecordAnswer(bg, answer("01A", "", "discord", "c", "u", t0, "hi")))
	must(t, s.Vote(bg, "01A", "discord", "v1", 1))
	must(t, s.Vote(bg, "01A", "discord", "v2", -1))
	must(t, s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketVoteLog); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{0, 0, 0, 0, 0, 0, 0, 2})
	}))
	must(t, s.Close())
	s, err = Open(path, Options{})
	must(t, err)
	defer s.Close()
	checkConsistent(t, s)
	must(t, s.db.View(func(tx *bolt.Tx) error {
		hist, err := voteHistory(tx)
		if err != nil {
			return err
		}
		if h := hist["01A"]; len(h) != 2 || h[0].Time != t0 {
			t.Errorf("history after migration: %+v", h)
		}
		return nil
	}))
}
