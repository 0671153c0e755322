package feedback

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Vote history: every vote, change and removal is kept in bucketVoteLog,
// while bucketVotes holds each person's current vote, the one that
// counts. So a voter who flips 👍 to 👎 and back is counted once, and the
// raw export still shows what happened.

// voteLogPrefix is the start of every history key of an answer.
func voteLogPrefix(id string) []byte { return appendPart(nil, id) }

// voteLogKey orders one answer's history by voter, then time, then the
// order of writing (two votes in one clock tick stay two).
func voteLogKey(id, voter string, at time.Time, seq uint64) []byte {
	k := append(appendPart(appendPart(nil, id), voter), timeKey(at)...)
	return binary.BigEndian.AppendUint64(k, seq)
}

func logVote(tx *bolt.Tx, id, voter string, value int, at time.Time) error {
	b := tx.Bucket(bucketVoteLog)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(voteLogKey(id, voter, at, seq), []byte{byte(int8(value))})
}

func decodeVoteLog(k, v []byte) (id, voter string, value int, at time.Time, err error) {
	id, rest, err := readPart(k)
	if err == nil {
		voter, rest, err = readPart(rest)
	}
	if err == nil && (len(rest) != 16 || len(v) != 1) {
		err = fmt.Errorf("%w: vote history entry %q", ErrCorrupt, k)
	}
	if err != nil {
		return "", "", 0, time.Time{}, err
	}
	return id, voter, int(int8(v[0])), parseTimeKey(rest[:8]), nil
}

// voteHistory reads the history of every answer, oldest first per answer.
func voteHistory(tx *bolt.Tx) (map[string][]RawVote, error) {
	out := map[string][]RawVote{}
	c := tx.Bucket(bucketVoteLog).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		id, voter, value, at, err := decodeVoteLog(k, v)
		if err != nil {
			return nil, err
		}
		out[id] = append(out[id], RawVote{VoterHash: voter, Value: value, Time: at})
	}
	for _, h := range out {
		sort.SliceStable(h, func(i, j int) bool { return h[i].Time.Before(h[j].Time) })
	}
	return out, nil
}

// deleteVoteLog removes history entries: an answer's (voter "") or one
// voter's on every answer (id ""). It returns how many went.
func deleteVoteLog(tx *bolt.Tx, id, voter string) (int, error) {
	b := tx.Bucket(bucketVoteLog)
	var dead [][]byte
	c := b.Cursor()
	if id != "" {
		prefix := voteLogPrefix(id)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			dead = append(dead, bytes.Clone(k))
		}
	} else {
		for k, v := c.First(); k != nil; k, v = c.Next() {
			_, who, _, _, err := decodeVoteLog(k, v)
			if err != nil {
				return 0, err
			}
			if who == voter {
				dead = append(dead, bytes.Clone(k))
			}
		}
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

// migrateV3 creates the vote history, starting it with the votes held.
func migrateV3(tx *bolt.Tx, _ time.Time) error {
	b, err := tx.CreateBucketIfNotExists(bucketVoteLog)
	if err != nil {
		return err
	}
	if k, _ := b.Cursor().First(); k != nil {
		return nil // already kept
	}
	c := tx.Bucket(bucketVotes).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		id, voter, err := readPart(k)
		if err != nil {
			return err
		}
		value, at, err := decodeVote(v)
		if err != nil {
			return err
		}
		if err := logVote(tx, id, string(voter), value, at); err != nil {
			return err
		}
	}
	return nil
}
