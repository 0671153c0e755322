package seen

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSurvivesReopen: a key recorded before a close is still refused after
// a reopen until its expiry, and accepted again after it.
func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seen.db")
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.FirstSeen(ctx, "k", t0, t0.Add(10*time.Minute)); !ok || err != nil {
		t.Fatalf("first: %v %v", ok, err)
	}
	if ok, err := s.FirstSeen(ctx, "k", t0.Add(time.Minute), t0.Add(11*time.Minute)); ok || err != nil {
		t.Fatalf("repeat: %v %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v (%v), want 0600", fi.Mode(), err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, _ := s.FirstSeen(ctx, "k", t0.Add(5*time.Minute), t0.Add(15*time.Minute)); ok {
		t.Error("a key seen before the reopen was accepted again within its expiry")
	}
	if ok, _ := s.FirstSeen(ctx, "k", t0.Add(11*time.Minute), t0.Add(21*time.Minute)); !ok {
		t.Error("a key was refused after its expiry")
	}
}

// TestPrunes: expired keys are deleted, so the file does not grow with
// every callback ever seen.
func TestPrunes(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "seen.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 3 * pruneEvery {
		at := t0.Add(time.Duration(i) * time.Second)
		if _, err := s.FirstSeen(ctx, string(rune(i)), at, at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Len(); n > pruneEvery+60 {
		t.Errorf("%d keys kept, want the unexpired ones (about 60) plus at most %d", n, pruneEvery)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir", "seen.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, []byte("not a bbolt file at all, just some text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil {
		t.Error("Open of a non-database succeeded")
	}
}
