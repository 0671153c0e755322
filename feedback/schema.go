package feedback

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Every bucket and meta key of the database, in one place.
//
// Keys that join several strings encode each one as a uvarint length
// followed by its bytes (see appendPart), so that no platform id can
// collide with another by containing a separator, and so that a cursor can
// seek to every key starting with a given list of parts.
var (
	// bucketMeta holds the schema version, the hashing secret and the
	// creation time.
	bucketMeta = []byte("meta")
	// bucketAnswers maps an answer id to its JSON answerRecord.
	bucketAnswers = []byte("answers")
	// bucketMessages maps part(platform) part(message id) to an answer id.
	bucketMessages = []byte("messages")
	// bucketChats indexes answers by chat, oldest first:
	// part(platform) part(chat) created(8 bytes, big-endian unix nanoseconds)
	// answer id -> nothing.
	bucketChats = []byte("chats")
	// bucketGroups indexes answers by prompt group:
	// part(group id) answer id -> the answer's summary (see summary.go;
	// nothing before schema version 2).
	bucketGroups = []byte("groups")
	// bucketVotes holds votes: part(answer id) voter hash -> voteValue.
	bucketVotes = []byte("votes")
	// bucketChoices holds A/B choices:
	// part(lower answer id) part(higher answer id) voter hash -> choiceValue.
	bucketChoices = []byte("choices")

	// bucketVoteLog keeps every vote, change and removal (schema 3):
	// part(answer id) part(voter hash) time(8 bytes) sequence(8 bytes)
	// -> int8 value
	// (+1, -1, 0 for a removal). Only bucketVotes counts.
	bucketVoteLog = []byte("vote_log")

	// bucketNotified records the group chats told that reactions are
	// collected (schema 4): part(platform) part(chat) -> time(8 bytes).
	bucketNotified = []byte("notified_groups")
	// bucketOptedOut holds the people who sent /optout (schema 4):
	// part(platform) voter hash -> time(8 bytes). Never a raw id.
	bucketOptedOut = []byte("opted_out")

	allBuckets = [][]byte{bucketMeta, bucketAnswers, bucketMessages, bucketChats, bucketGroups, bucketVotes, bucketChoices, bucketVoteLog, bucketNotified, bucketOptedOut}

	keySchemaVersion = []byte("schema_version")
	keySecret        = []byte("hmac_secret")
	keyCreated       = []byte("created")
)

// SchemaVersion is the version of the database layout this package writes.
const SchemaVersion = 4

// migrations[v] upgrades a database at version v to version v+1, inside the
// write transaction Open runs them in. Version 0 is an empty file.
var migrations = map[uint64]func(tx *bolt.Tx, now time.Time) error{
	0: createV1,
	1: migrateV2,
	2: migrateV3,
	3: migrateV4,
}

// createV1 creates every bucket of version 1 and the per-database secret.
func createV1(tx *bolt.Tx, now time.Time) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keySecret) == nil {
		secret, err := newSecret()
		if err != nil {
			return err
		}
		if err := meta.Put(keySecret, secret); err != nil {
			return err
		}
	}
	if meta.Get(keyCreated) == nil {
		if err := meta.Put(keyCreated, timeKey(now)); err != nil {
			return err
		}
	}
	return nil
}

// schemaVersion reads the version stored in tx; 0 means a new file.
func schemaVersion(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	v := meta.Get(keySchemaVersion)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: schema version is %d bytes, want 8", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// migrate brings the database in tx up to SchemaVersion.
func migrate(tx *bolt.Tx, now time.Time) error {
	v, err := schemaVersion(tx)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("%w: the file has schema version %d, this chatloop knows up to %d", ErrNewerSchema, v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		step, ok := migrations[v]
		if !ok {
			return fmt.Errorf("no migration from schema version %d", v)
		}
		if err := step(tx, now); err != nil {
			return fmt.Errorf("migrating schema version %d to %d: %w", v, v+1, err)
		}
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], SchemaVersion)
	return tx.Bucket(bucketMeta).Put(keySchemaVersion, buf[:])
}

// appendPart appends one length-prefixed string to a key.
func appendPart(key []byte, s string) []byte {
	key = binary.AppendUvarint(key, uint64(len(s)))
	return append(key, s...)
}

// readPart reads one length-prefixed string from the start of key,
// returning it and the rest of the key.
func readPart(key []byte) (string, []byte, error) {
	n, w := binary.Uvarint(key)
	if w <= 0 || uint64(len(key)-w) < n {
		return "", nil, fmt.Errorf("%w: malformed key %q", ErrCorrupt, key)
	}
	return string(key[w : w+int(n)]), key[w+int(n):], nil
}

// timeKey encodes t as 8 big-endian bytes that sort in time order (times
// before 1970 sort as 1970).
func timeKey(t time.Time) []byte {
	var buf [8]byte
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	binary.BigEndian.PutUint64(buf[:], uint64(ns))
	return buf[:]
}

func parseTimeKey(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
}

func messageKey(platform string, msg string) []byte {
	return appendPart(appendPart(nil, platform), msg)
}

func chatPrefix(platform, chat string) []byte {
	return appendPart(appendPart(nil, platform), chat)
}

func chatKey(platform, chat string, created time.Time, id string) []byte {
	k := chatPrefix(platform, chat)
	k = append(k, timeKey(created)...)
	return append(k, id...)
}

func groupKey(group, id string) []byte {
	return append(appendPart(nil, group), id...)
}

func votePrefix(id string) []byte { return appendPart(nil, id) }

func voteKey(id, voter string) []byte { return append(votePrefix(id), voter...) }

// choiceKey orders the two answers so that a comparison has one key per
// voter whichever answer won.
func choiceKey(a, b, voter string) []byte {
	if b < a {
		a, b = b, a
	}
	return append(appendPart(appendPart(nil, a), b), voter...)
}

// voteValue is a stored vote: the value (+1 or -1) and when it was cast.
func encodeVote(value int, at time.Time) []byte {
	return append([]byte{byte(int8(value))}, timeKey(at)...)
}

func decodeVote(b []byte) (int, time.Time, error) {
	if len(b) != 9 {
		return 0, time.Time{}, fmt.Errorf("%w: vote is %d bytes, want 9", ErrCorrupt, len(b))
	}
	return int(int8(b[0])), parseTimeKey(b[1:]), nil
}

// choiceValue is a stored A/B choice: when it was made and the winner.
func encodeChoice(winner string, at time.Time) []byte {
	return append(timeKey(at), winner...)
}

func decodeChoice(b []byte) (string, time.Time, error) {
	if len(b) < 8 {
		return "", time.Time{}, fmt.Errorf("%w: choice is %d bytes, want at least 8", ErrCorrupt, len(b))
	}
	return string(b[8:]), parseTimeKey(b[:8]), nil
}
