package hub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPartSymlinkNotFollowed: a symlink planted at FILE.part (or at the
// checksum's temporary file) is never followed: its target keeps its
// content, and the pull fails naming the link.
func TestPartSymlinkNotFollowed(t *testing.T) {
	withCatalogueUnpinned(t)
	for _, planted := range []string{partSuffix, checksumSuffix + ".tmp"} {
		t.Run(planted, func(t *testing.T) {
			f := newFakeHF(t)
			content := randomBytes(1<<20, 7)
			f.add("Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf", content)
			cache := Cache{Dir: filepath.Join(t.TempDir(), "models")}
			must(t, os.MkdirAll(cache.Dir, 0o755))
			victim := filepath.Join(t.TempDir(), "victim")
			must(t, os.WriteFile(victim, []byte("precious"), 0o644))
			final := cache.PathFor(hfSource(t, "qwen2.5-0.5b-instruct"))
			must(t, os.MkdirAll(filepath.Dir(final), 0o755))
			must(t, os.Symlink(victim, final+planted))
			_, err := newPuller(f).Pull(context.Background(), hfSource(t, "qwen2.5-0.5b-instruct"), cache)
			if got, _ := os.ReadFile(victim); string(got) != "precious" {
				t.Fatalf("the link's target was overwritten (%d bytes); pull: %v", len(got), err)
			}
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("pull: %v, want an error naming the symbolic link", err)
			}
		})
	}
}

// TestListSurvivesDanglingLink: one dangling link in the cache does not
// make "model list" fail; the good models are listed.
func TestListSurvivesDanglingLink(t *testing.T) {
	cache := Cache{Dir: t.TempDir()}
	must(t, os.WriteFile(cache.Path("good.gguf"), []byte("model"), 0o644))
	must(t, os.Symlink(filepath.Join(cache.Dir, "gone"), cache.Path("dangling.gguf")))
	l, err := cache.List()
	if err != nil || len(l) != 1 || l[0].File != "good.gguf" {
		t.Fatalf("List = %+v, %v; want good.gguf alone", l, err)
	}
}

// hostileServer answers a Range request with a 206 whose Content-Range
// starts elsewhere, and a plain GET with part of the file then a cut: each
// round makes "progress", which used to reset the failure count forever.
func hostileServer(t *testing.T, content []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			return
		}
		if r.Header.Get("Range") != "" {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(content)-1, len(content)))
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(content[:100])
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(content)))
		_, _ = w.Write(content[:len(content)/2])
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBadResumesGiveUp: a mirror that keeps answering resumes with the
// wrong Content-Range is given up on after MaxBadResumes, not retried
// forever.
func TestBadResumesGiveUp(t *testing.T) {
	content := randomBytes(64<<10, 3)
	srv := hostileServer(t, content)
	src, err := ParseSource(srv.URL + "/m.gguf")
	must(t, err)
	cache := Cache{Dir: t.TempDir()}
	p := &Puller{HTTP: srv.Client(), RetryDelay: time.Millisecond, StallTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = p.Pull(ctx, src, cache)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "resum") {
		t.Fatalf("pull from a mirror with bad resumes: %v (ctx %v), want a give-up error", err, ctx.Err())
	}
	if _, err := os.Stat(cache.PathFor(src)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a file was installed")
	}
}

// endlessServer sends an endless body with no declared size.
func endlessServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		buf := make([]byte, 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEndlessBodyCapped: a body with no declared size is cut at the
// configured maximum and nothing is installed.
func TestEndlessBodyCapped(t *testing.T) {
	srv := endlessServer(t)
	src, err := ParseSource(srv.URL + "/endless.gguf")
	must(t, err)
	cache := Cache{Dir: t.TempDir()}
	p := &Puller{HTTP: srv.Client(), RetryDelay: time.Millisecond, MaxSize: 1 << 20}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = p.Pull(ctx, src, cache)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("pull of an endless body: %v (ctx %v), want a size error", err, ctx.Err())
	}
	if _, err := os.Stat(cache.PathFor(src)); !errors.Is(err, os.ErrNotExist) {
		t.Error("the endless body was installed as a model")
	}
	if fi, err := os.Stat(cache.PathFor(src) + partSuffix); err == nil && fi.Size() > 1<<20 {
		t.Errorf("the part file grew to %d bytes", fi.Size())
	}
}

// withCatalogue replaces the catalogue for one test.
func withCatalogue(t *testing.T, entries ...Entry) {
	old := catalogue
	catalogue = entries
	t.Cleanup(func() { catalogue = old })
}

// withCatalogueUnpinned is the catalogue without its pins, for tests whose
// fake Hugging Face serves other bytes under a catalogue file's name.
func withCatalogueUnpinned(t *testing.T) {
	entries := slices.Clone(catalogue)
	for i := range entries {
		entries[i].SHA256, entries[i].Size = "", 0
	}
	withCatalogue(t, entries...)
}

// TestCatalogueCapsSize: a catalogue model whose server declares no size
// is cut at the catalogue's known size.
func TestCatalogueCapsSize(t *testing.T) {
	srv := endlessServer(t)
	withCatalogue(t, Entry{Name: "tiny", Repo: "o/r", File: "tiny.gguf", Size: 100 << 10})
	src := hfSource(t, "tiny")
	p := &Puller{Endpoint: srv.URL, HTTP: srv.Client(), RetryDelay: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := p.Pull(ctx, src, Cache{Dir: t.TempDir()})
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("pull: %v (ctx %v), want a size error", err, ctx.Err())
	}
}

// TestCacheIdentity: a file pulled from some URL under a catalogue file's
// name is not the catalogue model: not named so by List, not found by the
// catalogue name, and a pull of the catalogue model downloads the real
// one over it. A pinned catalogue SHA-256 is enforced even when the server
// publishes another.
func TestCacheIdentity(t *testing.T) {
	withCatalogueUnpinned(t)
	f := newFakeHF(t)
	official := randomBytes(200<<10, 11)
	f.add("Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf", official)
	impostor := randomBytes(150<<10, 12)
	sum := f.add("evil/repo/qwen2.5-0.5b-instruct-q8_0.gguf", impostor)
	cache := Cache{Dir: t.TempDir()}
	p := newPuller(f)
	ctx := context.Background()

	m, err := p.Pull(ctx, hfSource(t, "hf://evil/repo/qwen2.5-0.5b-instruct-q8_0.gguf"), cache)
	must(t, err)
	if m.Name != "" || m.SHA256 != sum || m.Source != "hf://evil/repo/qwen2.5-0.5b-instruct-q8_0.gguf" {
		t.Errorf("the impostor pulled as %+v", m)
	}
	l, err := cache.List()
	must(t, err)
	if len(l) != 1 || l[0].Name != "" || l[0].Source != "hf://evil/repo/qwen2.5-0.5b-instruct-q8_0.gguf" {
		t.Errorf("List = %+v, want the file with its own source and no catalogue name", l)
	}
	if got, err := cache.Find("qwen2.5-0.5b-instruct"); !errors.Is(err, ErrNotCached) {
		t.Errorf("Find by the catalogue name gave %+v, %v; want ErrNotCached", got, err)
	}
	m, err = p.Pull(ctx, hfSource(t, "qwen2.5-0.5b-instruct"), cache)
	must(t, err)
	checkPulled(t, m, official)
	if m.Name != "qwen2.5-0.5b-instruct" {
		t.Errorf("the official pull is named %q", m.Name)
	}
	if got, err := cache.Find("qwen2.5-0.5b-instruct"); err != nil || got.Path != m.Path {
		t.Errorf("Find after the official pull: %+v, %v", got, err)
	}

	// A pin the server contradicts: the download is refused.
	withCatalogue(t, Entry{Name: "pinned", Repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF", File: "qwen2.5-0.5b-instruct-q8_0.gguf", SHA256: strings.Repeat("ab", 32)})
	must(t, os.Remove(m.Path))
	must(t, os.Remove(m.Path+checksumSuffix))
	_, err = p.Pull(ctx, hfSource(t, "pinned"), cache)
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("pull against a pin: %v, want ErrChecksum", err)
	}
	if _, err := os.Stat(m.Path); !errors.Is(err, os.ErrNotExist) {
		t.Error("a file that contradicts the pin was installed")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCataloguePins: every pinned digest is 64 lower-case hex digits with
// the exact size beside it, within 1% of the approximate size the
// catalogue shows; the pinned entries are the ones docs/security.md names.
func TestCataloguePins(t *testing.T) {
	pinned := map[string]bool{}
	for _, e := range Catalogue() {
		if e.SHA256 == "" {
			continue
		}
		pinned[e.Name] = true
		if len(e.SHA256) != 64 || strings.Trim(e.SHA256, "0123456789abcdef") != "" {
			t.Errorf("%s: digest %q is not 64 lower-case hex digits", e.Name, e.SHA256)
		}
		if e.Size <= 0 || math.Abs(float64(e.Size-e.ApproxSize)) > 0.01*float64(e.ApproxSize) {
			t.Errorf("%s: pinned size %d is not within 1%% of %d", e.Name, e.Size, e.ApproxSize)
		}
	}
	want := []string{"llama-3.2-1b-instruct", "llama-3.2-3b-instruct", "qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-3b-instruct", "qwen3-0.6b", "qwen3-1.7b", "smollm2-1.7b-instruct"}
	for _, n := range want {
		if !pinned[n] {
			t.Errorf("%s is not pinned", n)
		}
	}
	if len(pinned) != len(want) {
		t.Errorf("%d entries pinned, want %d (update docs/security.md)", len(pinned), len(want))
	}
}

// TestSourceDirSymlinkNotFollowed: a symbolic link planted in place of a
// source directory of the cache (hf/OWNER) is refused, never written
// through.
func TestSourceDirSymlinkNotFollowed(t *testing.T) {
	f := newFakeHF(t)
	f.add("o/r/m.gguf", randomBytes(4096, 31))
	cache := Cache{Dir: t.TempDir()}
	elsewhere := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(cache.Dir, "hf"), 0o755))
	must(t, os.Symlink(elsewhere, filepath.Join(cache.Dir, "hf", "o")))
	_, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("pull through a planted directory link: %v, want an error naming the link", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("the link's target got %d entries", len(ents))
	}
}
