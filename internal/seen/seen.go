// Package seen is a small persistent set of keys with expiries, kept in a
// bbolt file: what a callback receiver needs to refuse a captured request
// played again after a restart.
package seen

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucket = []byte("seen")

// pruneEvery is how many new keys go by between two sweeps of expired ones.
const pruneEvery = 256

// Set is a set of keys, each kept until its expiry. Keys are stored as
// their SHA-256, so the file holds no request data.
type Set struct {
	db *bolt.DB

	mu    sync.Mutex
	added int
}

// Open opens (creating, mode 0600) the set kept in the file at path. It
// fails after a second when another process holds the file.
func Open(path string) (*Set, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening the seen-callback file %s: %w", path, err)
	}
	// Batch waits this long for more callers to join a transaction
	// (bbolt's default, 10 ms, would cap a lone caller at ~100/s).
	db.MaxBatchDelay = 2 * time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening the seen-callback file %s: %w", path, err)
	}
	return &Set{db: db}, nil
}

// Close closes the file.
func (s *Set) Close() error { return s.db.Close() }

// FirstSeen records key until until and reports whether it was not
// already recorded with an expiry after now. Concurrent callers share one
// write transaction (bbolt's Batch).
func (s *Set) FirstSeen(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	h := sha256.Sum256([]byte(key))
	var exp [8]byte
	binary.BigEndian.PutUint64(exp[:], uint64(until.UnixNano()))
	first := false
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		first = false // Batch may run the function again
		if v := b.Get(h[:]); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now.UnixNano() {
			return nil
		}
		first = true
		return b.Put(h[:], exp[:])
	})
	if err != nil {
		return false, fmt.Errorf("recording a seen callback: %w", err)
	}
	if first && s.count() {
		if err := s.prune(now); err != nil {
			return true, err
		}
	}
	return first, nil
}

// count notes one new key and reports whether it is time to prune.
func (s *Set) count() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.added++
	if s.added >= pruneEvery {
		s.added = 0
		return true
	}
	return false
}

// prune deletes every key expired at now.
func (s *Set) prune(now time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		var expired [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) <= now.UnixNano() {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pruning seen callbacks: %w", err)
	}
	return nil
}

// Len is the number of keys kept, expired or not.
func (s *Set) Len() int {
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n
}
