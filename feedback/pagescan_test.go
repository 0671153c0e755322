package feedback

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
)

// dumpRecords reads the answers, votes and choices of an intact database
// straight from bbolt: bucket -> key -> value.
func dumpRecords(t *testing.T, path string) map[string]map[string][]byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	must(t, err)
	defer db.Close()
	out := map[string]map[string][]byte{}
	must(t, db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketAnswers, bucketVotes, bucketChoices} {
			m := map[string][]byte{}
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				m[string(k)] = bytes.Clone(v)
				return nil
			})
			if err != nil {
				return err
			}
			out[string(name)] = m
		}
		return nil
	}))
	return out
}

// TestSalvageScansOrphanedPages: a file cut in half has lost its tree's
// root, and pages zeroed in the middle hide whole subtrees; salvage then
// reads the file page by page. It must recover records from every damaged
// copy, and every record it writes must be exactly the newest one the
// intact file held: no stale version from a page bbolt had freed (a vote
// changed later, a voter forgotten later), nothing fabricated.
func TestSalvageScansOrphanedPages(t *testing.T) {
	const n = 300
	path := corruptFixture(t, n)
	s, err := Open(path, Options{NoSync: true})
	must(t, err)
	for i := range 20 {
		must(t, s.Vote(bg, bot.AnswerID(fmt.Sprintf("01J%023d", i)), "test", "gone", 1))
	}
	must(t, s.Close())
	before := dumpRecords(t, path)
	s, err = Open(path, Options{NoSync: true})
	must(t, err)
	for i := 0; i < n; i += 3 {
		must(t, s.Vote(bg, bot.AnswerID(fmt.Sprintf("01J%023d", i)), "test", "voter", -(1-2*(i%2))))
	}
	if _, err := s.Forget(bg, "test", "gone", false); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	want := dumpRecords(t, path)

	for name, p := range damage(t, path) {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.db")
			rep, err := Salvage(bg, p, out)
			if err != nil {
				t.Fatalf("Salvage: %v", err)
			}
			t.Logf("%d answers, %d votes, %d choices; lost:\n%s", rep.Answers, rep.Votes, rep.Choices, rep.Summary())
			if rep.Answers == 0 || rep.Votes == 0 {
				t.Errorf("salvaged %d answers and %d votes of %d", rep.Answers, rep.Votes, n)
			}
			if !rep.Damaged() || rep.Summary() == "" {
				t.Errorf("report %+v says nothing was lost", rep)
			}
			got := dumpRecords(t, out)
			counts := map[string]int{"answers": rep.Answers, "votes": rep.Votes, "choices": rep.Choices}
			for bucket, kvs := range got {
				if len(kvs) != counts[bucket] {
					t.Errorf("%s: the copy holds %d, the report says %d", bucket, len(kvs), counts[bucket])
				}
				stale := 0
				for k, v := range kvs {
					w, ok := want[bucket][k]
					if ok && bytes.Equal(v, w) {
						continue
					}
					if old, ok := before[bucket][k]; ok && bytes.Equal(v, old) && rep.FreelistLost {
						stale++
						continue
					}
					if !ok {
						t.Errorf("%s: %q is not in the original", bucket, k)
					} else {
						t.Errorf("%s: %q is %q, the original holds %q", bucket, k, v, w)
					}
				}
				if stale > 0 {
					t.Logf("%s: %d older versions came back (the free list was lost, and the report says so)", bucket, stale)
				}
			}
		})
	}
}

// FuzzScanPages: the page scan reads any bytes as a bbolt file without
// panicking or reading out of bounds, and whatever it returns comes from
// within the input. Seeded with a real small database, whole and cut.
func FuzzScanPages(f *testing.F) {
	path := corruptFixture(f, 6)
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(data[:8192+100])
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := scanPages(bytes.NewReader(b), int64(len(b)))
		for _, x := range sc.kvs {
			if !bytes.Contains(b, x.k) {
				t.Fatalf("key %q is not in the input", x.k)
			}
		}
		found := recognise(sc.kvs)
		for k, x := range found.votes {
			if !isVote([]byte(k), x.v) {
				t.Fatalf("vote %q does not decode", k)
			}
		}
	})
}

// FuzzParseLeafPage: one page, with any header and elements, is decoded
// or refused, never a panic; every key and value lies within the page.
func FuzzParseLeafPage(f *testing.F) {
	path := corruptFixture(f, 3)
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	for off := 8192; off+4096 <= len(data); off += 4096 {
		f.Add(data[off:off+4096], uint64(off/4096))
	}
	f.Fuzz(func(t *testing.T, page []byte, id uint64) {
		kvs, ok := parseLeafPage(page, id)
		if !ok && len(kvs) > 0 {
			t.Fatal("a refused page returned elements")
		}
		for _, x := range kvs {
			if len(x.k) == 0 || len(x.k)+len(x.v) > len(page) {
				t.Fatalf("element %q=%q does not fit the page", x.k, x.v)
			}
		}
	})
}
