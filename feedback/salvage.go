package feedback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SalvageReport says what Salvage copied and what it could not read.
type SalvageReport struct {
	// Answers, Votes and Choices are the records copied.
	Answers, Votes, Choices int
	// IndexEntries are the message, chat and group index entries copied.
	IndexEntries int
	// Undecodable counts records that were read but are not valid (left
	// out).
	Undecodable int
	// Orphans counts votes and choices left out because their answer was
	// lost.
	Orphans int
	// Regions describes each damaged stretch of a bucket that was skipped;
	// how many records it held cannot be known.
	Regions []string
	// MissingBuckets lists buckets that could not be opened at all.
	MissingBuckets []string
	// NewSecret is set when the hashing secret was unreadable: the copy
	// has a new one, so `feedback forget --user` no longer finds the old
	// votes' voters (the votes themselves are kept).
	NewSecret bool
	// Scanned is set when the tree was damaged and the file was also read
	// page by page; Scan describes what that scan saw, and FromScan
	// counts the answers, votes and choices only it found.
	Scanned  bool
	Scan     string
	FromScan int
	// FreelistLost is set when the scan could not tell bbolt's old,
	// freed pages from live ones: a record deleted or changed before the
	// damage may be back in the copy.
	FreelistLost bool
	// Disputed counts records the scan left out because two versions of
	// their page disagree on whether they exist.
	Disputed int
}

// Damaged reports whether anything could not be read.
func (r SalvageReport) Damaged() bool {
	return r.Undecodable > 0 || r.Orphans > 0 || len(r.Regions) > 0 || len(r.MissingBuckets) > 0 || r.NewSecret
}

// Summary describes the losses in a few lines ("" when nothing was lost).
func (r SalvageReport) Summary() string {
	var b strings.Builder
	if r.Undecodable > 0 {
		fmt.Fprintf(&b, "%d records were unreadable and left out\n", r.Undecodable)
	}
	if r.Orphans > 0 {
		fmt.Fprintf(&b, "%d votes and choices were left out because their answers were lost\n", r.Orphans)
	}
	for _, x := range r.Regions {
		fmt.Fprintf(&b, "damaged and skipped: %s\n", x)
	}
	for _, x := range r.MissingBuckets {
		fmt.Fprintf(&b, "bucket %s could not be opened through the tree\n", x)
	}
	if r.Scanned {
		fmt.Fprintf(&b, "%s; %d records found only by the scan\n", r.Scan, r.FromScan)
		if r.Disputed > 0 {
			fmt.Fprintf(&b, "%d records left out: versions of their page disagree on whether they were deleted\n", r.Disputed)
		}
	}
	if r.NewSecret {
		b.WriteString("the hashing secret was unreadable: the copy has a new one, so forget --user cannot find the old voters\n")
	}
	return b.String()
}

// Salvage copies every readable answer, vote, A/B choice and index entry
// of the (possibly damaged) database at src into a new database at dst,
// which must not exist, keeping the hashing secret when it is readable. It
// reads src read-only and survives bbolt's panics and faults on damaged
// pages: it reads each bucket forwards, then backwards from its end up to
// the damage, and reports the stretch in between as lost. When the tree
// is damaged (or its root lost, as in a file cut short) it also reads the
// file page by page (see pagescan.go) and adds every record the tree did
// not reach; a record the tree reached is always taken from the tree.
func Salvage(ctx context.Context, src, dst string) (SalvageReport, error) {
	var rep SalvageReport
	if _, err := os.Lstat(dst); err == nil {
		return rep, fmt.Errorf("salvage: %s exists; give a new file", dst)
	}
	if _, err := os.Stat(src); err != nil {
		return rep, fmt.Errorf("salvage: %w", err)
	}
	sdb, openErr := openForSalvage(src)
	if openErr == nil {
		defer sdb.Close()
	}
	read := func(name []byte) ([]keyValue, []string, bool) {
		if openErr != nil {
			return nil, nil, false
		}
		return readBucket(sdb, name)
	}
	records := [][]byte{bucketAnswers, bucketVotes, bucketChoices}
	var tree [3][]keyValue
	var treeRegions [3][]string
	damaged := openErr != nil
	for i, name := range records {
		var ok bool
		tree[i], treeRegions[i], ok = read(name)
		if !ok {
			rep.MissingBuckets = append(rep.MissingBuckets, string(name))
			damaged = true
		}
		for _, r := range treeRegions[i] {
			rep.Regions = append(rep.Regions, string(name)+": "+r)
			damaged = true
		}
	}
	meta, _, _ := read(bucketMeta)
	secret, created := lookup(meta, keySecret), lookup(meta, keyCreated)
	if len(secret) < 16 {
		damaged = true
	}
	if damaged {
		sc, err := scanFile(src)
		if err != nil {
			return rep, fmt.Errorf("salvage: scanning %s: %w", src, err)
		}
		found := recognise(sc.kvs)
		rep.Scanned, rep.Scan, rep.FreelistLost, rep.Disputed = true, sc.describe(), sc.freelistLost, found.disputed
		if len(secret) < 16 {
			secret, created = found.secret, found.created
		}
		for i, m := range []map[string]scannedKV{found.answers, found.votes, found.choices} {
			have := map[string]bool{}
			for _, x := range tree[i] {
				have[string(x.k)] = true
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				if !have[k] {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				tree[i] = append(tree[i], keyValue{m[k].k, m[k].v})
				rep.FromScan++
			}
		}
	}

	out, err := Open(dst, Options{})
	if err != nil {
		return rep, fmt.Errorf("salvage: %w", err)
	}
	defer out.Close()

	if len(secret) < 16 {
		rep.NewSecret = true
	} else {
		err := out.db.Update(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if len(created) == 8 {
				if err := m.Put(keyCreated, created); err != nil {
					return err
				}
			}
			return m.Put(keySecret, secret)
		})
		if err != nil {
			return rep, fmt.Errorf("salvage: writing %s: %w", dst, err)
		}
		out.secret = bytes.Clone(secret)
	}

	// Answers first; votes and choices only on answers kept; the
	// message, chat and group indexes rebuilt from the answers kept.
	ids := map[string]bool{}
	var answers []keyValue
	var index [3][]keyValue // messages, chats, groups
	for i, name := range records {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		kvs := tree[i]
		var keep []keyValue
		for _, x := range kvs {
			switch {
			case bytes.Equal(name, bucketAnswers):
				r, err := decodeAnswer(x.v)
				if err != nil || r.ID != string(x.k) {
					rep.Undecodable++
					continue
				}
				ids[r.ID] = true
				answers = append(answers, x)
				index[1] = append(index[1], keyValue{chatKey(r.Platform, r.ChatID, r.Created, r.ID), nil})
				index[2] = append(index[2], keyValue{groupKey(r.GroupID, r.ID), encodeSummary(r)})
				for _, m := range r.MessageIDs {
					index[0] = append(index[0], keyValue{messageKey(r.Platform, m), []byte(r.ID)})
				}
				continue
			case bytes.Equal(name, bucketVotes):
				id, _, err := readPart(x.k)
				if _, _, derr := decodeVote(x.v); err != nil || derr != nil {
					rep.Undecodable++
					continue
				}
				if !ids[id] {
					rep.Orphans++
					continue
				}
			case bytes.Equal(name, bucketChoices):
				a, rest, err := readPart(x.k)
				var b string
				if err == nil {
					b, _, err = readPart(rest)
				}
				if _, _, derr := decodeChoice(x.v); err != nil || derr != nil {
					rep.Undecodable++
					continue
				}
				if !ids[a] || !ids[b] {
					rep.Orphans++
					continue
				}
			}
			keep = append(keep, x)
		}
		if bytes.Equal(name, bucketAnswers) {
			keep = answers
		}
		if err := putAll(out.db, name, keep); err != nil {
			return rep, fmt.Errorf("salvage: writing %s: %w", dst, err)
		}
		switch {
		case bytes.Equal(name, bucketAnswers):
			rep.Answers = len(keep)
		case bytes.Equal(name, bucketVotes):
			rep.Votes = len(keep)
		default:
			rep.Choices = len(keep)
		}
	}
	for i, name := range [][]byte{bucketMessages, bucketChats, bucketGroups} {
		if err := putAll(out.db, name, index[i]); err != nil {
			return rep, fmt.Errorf("salvage: writing %s: %w", dst, err)
		}
		rep.IndexEntries += len(index[i])
	}
	if err := out.Check(ctx); err != nil {
		return rep, fmt.Errorf("salvage: the copy %s does not check out: %w", dst, err)
	}
	return rep, nil
}

// openForSalvage opens src read-only, a panic or fault during the open
// becoming an error.
func openForSalvage(src string) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %v (both headers of the file are damaged)", ErrCorrupt, p)
		}
	}()
	return bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
}

type keyValue struct{ k, v []byte }

func lookup(kvs []keyValue, k []byte) []byte {
	for _, x := range kvs {
		if bytes.Equal(x.k, k) {
			return x.v
		}
	}
	return nil
}

// readBucket reads every key of bucket name it can: forwards from the
// first key until damage stops it, then backwards from the last key down
// to where the forward pass stopped. ok is false when the bucket itself
// cannot be opened.
func readBucket(db *bolt.DB, name []byte) (kvs []keyValue, regions []string, ok bool) {
	var last []byte
	fwdErr := guardedView(db, func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return errors.New("no such bucket")
		}
		ok = true
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				continue // a nested bucket: none in this schema
			}
			kvs = append(kvs, keyValue{bytes.Clone(k), bytes.Clone(v)})
			last = kvs[len(kvs)-1].k
		}
		return nil
	})
	if fwdErr == nil {
		return kvs, nil, true
	}
	if !ok {
		return nil, nil, false
	}
	var tail []keyValue
	var first []byte
	bwdErr := guardedView(db, func(tx *bolt.Tx) error {
		c := tx.Bucket(name).Cursor()
		for k, v := c.Last(); k != nil && (last == nil || bytes.Compare(k, last) > 0); k, v = c.Prev() {
			if v == nil {
				continue
			}
			tail = append(tail, keyValue{bytes.Clone(k), bytes.Clone(v)})
			first = tail[len(tail)-1].k
		}
		return nil
	})
	for i := len(tail) - 1; i >= 0; i-- {
		kvs = append(kvs, tail[i])
	}
	after, before := "the start", "the end"
	if last != nil {
		after = fmt.Sprintf("key %q", last)
	}
	if first != nil {
		before = fmt.Sprintf("key %q", first)
	}
	region := fmt.Sprintf("between %s and %s (%v)", after, before, fwdErr)
	if bwdErr != nil && first == nil && len(tail) == 0 {
		region = fmt.Sprintf("from %s to the end (%v)", after, fwdErr)
	}
	return kvs, []string{region}, true
}

// guardedView runs fn in a read transaction, a panic or a fault on a
// damaged page becoming an error.
func guardedView(db *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return db.View(fn)
}

// putAll writes kvs into bucket name, a thousand keys a transaction.
func putAll(db guardedDB, name []byte, kvs []keyValue) error {
	for len(kvs) > 0 {
		n := min(len(kvs), 1000)
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(name)
			for _, x := range kvs[:n] {
				if err := b.Put(x.k, x.v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		kvs = kvs[n:]
	}
	return nil
}
