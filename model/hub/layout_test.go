package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCacheKeyedBySource: two files of one name from two repositories
// (and a URL) are cached side by side, each found by its own source and
// listed with it; a bare file name that several sources share is refused
// as ambiguous; removing one leaves the others.
func TestCacheKeyedBySource(t *testing.T) {
	f := newFakeHF(t)
	a, b := randomBytes(100<<10, 21), randomBytes(120<<10, 22)
	f.add("alice/models/m.gguf", a)
	f.add("bob/models/m.gguf", b)
	cache := Cache{Dir: t.TempDir()}
	p := newPuller(f)
	ctx := context.Background()
	ma, err := p.Pull(ctx, hfSource(t, "hf://alice/models/m.gguf"), cache)
	must(t, err)
	mb, err := p.Pull(ctx, hfSource(t, "hf://bob/models/m.gguf"), cache)
	must(t, err)
	if ma.Path == mb.Path {
		t.Fatalf("both sources were cached at %s", ma.Path)
	}
	for ref, want := range map[string][]byte{"hf://alice/models/m.gguf": a, "hf://bob/models/m.gguf": b} {
		m, err := cache.Find(ref)
		if err != nil {
			t.Fatalf("Find(%s): %v", ref, err)
		}
		got, err := os.ReadFile(m.Path)
		must(t, err)
		if !bytes.Equal(got, want) || m.Source != ref {
			t.Errorf("Find(%s) gave %s from %s, not that source's file", ref, m.Path, m.Source)
		}
	}
	l, err := cache.List()
	must(t, err)
	if len(l) != 2 || l[0].Source != "hf://alice/models/m.gguf" || l[1].Source != "hf://bob/models/m.gguf" {
		t.Errorf("List = %+v, want both files with their sources", l)
	}
	if _, err := cache.Find("m.gguf"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("Find by a shared file name: %v, want ErrAmbiguous", err)
	}
	if _, err := cache.Remove("hf://alice/models/m.gguf"); err != nil {
		t.Fatal(err)
	}
	if m, err := cache.Find("m.gguf"); err != nil || m.Source != "hf://bob/models/m.gguf" {
		t.Errorf("after removing alice's, Find(m.gguf) = %+v, %v; want bob's", m, err)
	}
}

// TestCacheReadsOldLayout: a file in the old flat layout (FILE.gguf with
// its .sha256 and .source in the cache directory) is still listed and
// found, and moves to its source's place when found or pulled by its
// source; a file put there by hand (no source) stays listed.
func TestCacheReadsOldLayout(t *testing.T) {
	withCatalogueUnpinned(t)
	f := newFakeHF(t)
	content := randomBytes(64<<10, 23)
	sum := f.add("Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf", content)
	cache := Cache{Dir: t.TempDir()}
	old := filepath.Join(cache.Dir, "qwen2.5-0.5b-instruct-q8_0.gguf")
	must(t, os.WriteFile(old, content, 0o644))
	must(t, writeChecksum(old, sum))
	must(t, writeSource(old, hfSource(t, "qwen2.5-0.5b-instruct")))
	must(t, os.WriteFile(filepath.Join(cache.Dir, "byhand.gguf"), []byte("weights"), 0o644))

	l, err := cache.List()
	must(t, err)
	if len(l) != 2 {
		t.Fatalf("List of the old layout = %+v", l)
	}
	m, err := cache.Find(DefaultModel)
	must(t, err)
	if m.Name != DefaultModel || m.SHA256 != sum || m.Path == old || !strings.HasPrefix(m.Path, cache.Dir) {
		t.Errorf("Find of an old-layout file = %+v; want it moved to its source's place", m)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Error("the old-layout file is still there after the move")
	}
	before := f.nGets
	m2, err := newPuller(f).Pull(context.Background(), hfSource(t, DefaultModel), cache)
	must(t, err)
	if m2.Path != m.Path || f.nGets != before {
		t.Errorf("pull after the move: %s (%d downloads), want the cached %s", m2.Path, f.nGets-before, m.Path)
	}
	if m, err := cache.Find("byhand.gguf"); err != nil || m.Source != "" {
		t.Errorf("a file put there by hand: %+v, %v", m, err)
	}
}
