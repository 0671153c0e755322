package feedback

import (
	"bytes"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestConsentSurvivesReopen stores a group notice and an opt-out, keyed by
// the hashed id only, and finds both after the file is reopened.
func TestConsentSurvivesReopen(t *testing.T) {
	path := t.TempDir() + "/consent.db"
	s, err := Open(path, Options{Now: func() time.Time { return t0 }})
	must(t, err)
	must(t, s.RecordAnswer(bg, answer("01A", "", "wechat", "room", "asker", t0, "hi")))
	must(t, s.Vote(bg, "01A", "wechat", "raw-voter-id-42", 1))
	must(t, s.Vote(bg, "01A", "wechat", "someone-else", -1))
	must(t, s.MarkGroupNotified(bg, "wechat", "room"))
	n, err := s.OptOut(bg, "wechat", "raw-voter-id-42")
	must(t, err)
	if n != 1 {
		t.Errorf("opting out forgot %d votes, want 1", n)
	}
	must(t, s.Close())

	raw, err := os.ReadFile(path)
	must(t, err)
	if bytes.Contains(raw, []byte("raw-voter-id-42")) {
		t.Error("the raw id of the person who opted out is in the file")
	}

	s, err = Open(path, Options{})
	must(t, err)
	defer s.Close()
	checkConsistent(t, s)
	if ok, err := s.GroupNotified(bg, "wechat", "room"); err != nil || !ok {
		t.Errorf("group notified after reopening: %v, %v; want true", ok, err)
	}
	if ok, err := s.GroupNotified(bg, "discord", "room"); err != nil || ok {
		t.Errorf("the same chat id on another platform notified: %v, %v", ok, err)
	}
	if ok, err := s.OptedOut(bg, "wechat", "raw-voter-id-42"); err != nil || !ok {
		t.Errorf("opted out after reopening: %v, %v; want true", ok, err)
	}
	if ok, err := s.OptedOut(bg, "wechat", "someone-else"); err != nil || ok {
		t.Errorf("someone else opted out: %v, %v", ok, err)
	}
	var values []int
	must(t, s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketVotes).Cursor()
		p := votePrefix("01A")
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			value, _, err := decodeVote(v)
			if err != nil {
				return err
			}
			values = append(values, value)
		}
		return nil
	}))
	if len(values) != 1 || values[0] != -1 {
		t.Errorf("votes after the opt-out: %v, want only the other person's -1", values)
	}
	must(t, s.OptIn(bg, "wechat", "raw-voter-id-42"))
	if ok, err := s.OptedOut(bg, "wechat", "raw-voter-id-42"); err != nil || ok {
		t.Errorf("still opted out after opting in: %v, %v", ok, err)
	}
	if _, err := s.OptOut(bg, "wechat", ""); err == nil {
		t.Error("opting out an empty id succeeded")
	}
}

// TestMigrateV4 adds the consent buckets to a version 3 file.
func TestMigrateV4(t *testing.T) {
	path := t.TempDir() + "/v3.db"
	s, err := Open(path, Options{Now: func() time.Time { return t0 }})
	must(t, err)
	must(t, s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketNotified, bucketOptedOut} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{0, 0, 0, 0, 0, 0, 0, 3})
	}))
	must(t, s.Close())
	s, err = Open(path, Options{})
	must(t, err)
	defer s.Close()
	checkConsistent(t, s)
	must(t, s.MarkGroupNotified(bg, "discord", "c"))
	if _, err := s.OptOut(bg, "discord", "u"); err != nil {
		t.Fatalf("opting out after the migration: %v", err)
	}
}
