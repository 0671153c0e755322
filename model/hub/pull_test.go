package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newPuller(f *fakeHF) *Puller {
	return &Puller{Endpoint: f.hub.URL, HTTP: NewHTTPClient(2 * time.Second), RetryDelay: time.Millisecond, StallTimeout: 5 * time.Second}
}

func hfSource(t *testing.T, ref string) Source {
	t.Helper()
	src, err := ParseSource(ref)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// cacheFiles lists the files in the cache directory, at any depth (their
// paths relative to it, with slashes).
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// partAt is where the unfinished download of ref goes in cache (its
// directory made).
func partAt(t *testing.T, cache Cache, ref string) string {
	t.Helper()
	p := cache.PathFor(hfSource(t, ref)) + partSuffix
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkPulled(t *testing.T, m CachedModel, want []byte) {
	t.Helper()
	got, err := os.ReadFile(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("pulled file differs: got %d bytes, want %d", len(got), len(want))
	}
	sum := sha256.Sum256(want)
	if m.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("recorded sha256 %s, want %x", m.SHA256, sum)
	}
	rec, err := ReadChecksum(m.Path)
	if err != nil || rec != m.SHA256 {
		t.Errorf("checksum file: %q, %v; want %s", rec, err, m.SHA256)
	}
	if _, err := os.Stat(m.Path + partSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("part file left behind: %v", err)
	}
}

func TestPullFollowsRedirectAndVerifies(t *testing.T) {
	withCatalogueUnpinned(t)
	f := newFakeHF(t)
	content := randomBytes(3<<20+17, 1)
	sum := f.add("Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf", content)
	cache := Cache{Dir: filepath.Join(t.TempDir(), "models")}
	p := newPuller(f)

	rem, err := p.Resolve(context.Background(), hfSource(t, "qwen2.5-0.5b-instruct"))
	if err != nil {
		t.Fatal(err)
	}
	if rem.SHA256 != sum || rem.Size != int64(len(content)) {
		t.Fatalf("resolve: got sha %s size %d, want %s %d", rem.SHA256, rem.Size, sum, len(content))
	}
	if f.gets() != 0 {
		t.Fatalf("resolve downloaded: %d GETs at the CDN", f.gets())
	}
	m, err := p.Download(context.Background(), rem, cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if m.Name != "qwen2.5-0.5b-instruct" || m.Size != int64(len(content)) {
		t.Errorf("got name %q size %d", m.Name, m.Size)
	}
	if f.gets() != 1 || f.ranges()[0] != "" {
		t.Errorf("CDN saw %d GETs with ranges %q, want one plain GET", f.gets(), f.ranges())
	}

	// A second pull finds the file and downloads nothing.
	m2, err := p.Pull(context.Background(), hfSource(t, "qwen2.5-0.5b-instruct"), cache)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Path != m.Path || f.gets() != 1 {
		t.Errorf("second pull: path %s, CDN GETs %d; want no download", m2.Path, f.gets())
	}
}

func TestPullResumesAfterConnectionCut(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(2<<20, 2)
	f.add("o/r/m.gguf", content)
	f.cuts, f.cutAt = 2, 700_000
	cache := Cache{Dir: t.TempDir()}

	m, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if f.gets() != 3 {
		t.Fatalf("CDN GETs: got %d, want 3 (two cut, one finishing)", f.gets())
	}
	if f.ranges()[0] != "" || !strings.HasPrefix(f.ranges()[1], "bytes=") || !strings.HasPrefix(f.ranges()[2], "bytes=") {
		t.Errorf("ranges: got %q, want a plain GET then two resumes", f.ranges())
	}
	// Resuming, not restarting: the CDN sent each byte about once.
	if f.served() > int64(len(content))+int64(len(content))/4 {
		t.Errorf("CDN served %d bytes for a %d-byte file: the pull restarted instead of resuming", f.served(), len(content))
	}
}

func TestPullResumesPartFileOfEarlierRun(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(1<<20, 3)
	f.add("o/r/m.gguf", content)
	cache := Cache{Dir: t.TempDir()}
	half := len(content) / 2
	if err := os.WriteFile(partAt(t, cache, "hf://o/r/m.gguf"), content[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if want := "bytes=524288-"; len(f.ranges()) != 1 || f.ranges()[0] != want {
		t.Errorf("ranges: got %q, want [%q]", f.ranges(), want)
	}
	if f.served() != int64(len(content)-half) {
		t.Errorf("served %d bytes, want %d", f.served(), len(content)-half)
	}
}

func TestPullCancelledKeepsPartForLater(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(3<<20, 4)
	f.add("o/r/m.gguf", content)
	cache := Cache{Dir: t.TempDir()}
	p := newPuller(f)
	ctx, cancel := context.WithCancel(context.Background())
	p.NewProgress = func(string) Progress { return cancelAt{cancel: cancel, at: 1 << 20} }
	_, err := p.Pull(ctx, hfSource(t, "hf://o/r/m.gguf"), cache)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	fi, err := os.Stat(partAt(t, cache, "hf://o/r/m.gguf"))
	if err != nil || fi.Size() < 1<<20 || fi.Size() >= int64(len(content)) {
		t.Fatalf("part file after cancel: %v, %v", fi, err)
	}
	if _, err := os.Stat(cache.PathFor(hfSource(t, "hf://o/r/m.gguf"))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("incomplete file renamed into place: %v", err)
	}
	p.NewProgress = nil
	m, err := p.Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if last := f.ranges()[len(f.ranges())-1]; last != "bytes="+itoa(fi.Size())+"-" {
		t.Errorf("second pull asked for %q, want to resume at %d", last, fi.Size())
	}
}

type cancelAt struct {
	cancel func()
	at     int64
}

func (c cancelAt) Update(done, total int64) {
	if done >= c.at {
		c.cancel()
	}
}
func (cancelAt) Finish() {}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPullRestartsWhenServerIgnoresRange(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(1<<20, 5)
	f.add("o/r/m.gguf", content)
	f.ignoreRange = true
	cache := Cache{Dir: t.TempDir()}
	// A part file whose bytes are wrong: appending the server's whole
	// answer to it would fail; restarting succeeds.
	if err := os.WriteFile(partAt(t, cache, "hf://o/r/m.gguf"), randomBytes(1000, 99), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if len(f.ranges()) != 1 || f.ranges()[0] != "bytes=1000-" {
		t.Errorf("ranges: got %q, want one resume attempt", f.ranges())
	}
}

func TestPullWrongChecksumLeavesNothing(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(1<<20, 6)
	f.add("o/r/m.gguf", content)
	f.publish["o/r/m.gguf"] = strings.Repeat("ab", 32)
	cache := Cache{Dir: t.TempDir()}
	_, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
	if !strings.Contains(err.Error(), "deleted") {
		t.Errorf("error does not say the download was deleted: %v", err)
	}
	if names := cacheFiles(t, cache.Dir); len(names) != 0 {
		t.Errorf("cache holds %q after a failed checksum, want nothing", names)
	}
}

func TestPullGatedRepository(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(100_000, 7)
	f.add("meta-llama/Gated-GGUF/m.gguf", content)
	f.gated["meta-llama/Gated-GGUF"] = "hf_secret"
	cache := Cache{Dir: t.TempDir()}
	src := hfSource(t, "hf://meta-llama/Gated-GGUF/m.gguf")

	p := newPuller(f)
	_, err := p.Pull(context.Background(), src, cache)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("without a token: got %v, want ErrUnauthorized mentioning HF_TOKEN", err)
	}
	if names := cacheFiles(t, cache.Dir); len(names) != 0 {
		t.Errorf("cache holds %q after a refusal", names)
	}

	p.Token = "hf_secret"
	m, err := p.Pull(context.Background(), src, cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	for _, a := range f.cdnAuth() {
		if a != "" {
			t.Errorf("the token was sent to the CDN: %q", a)
		}
	}
}

func TestPullNotFound(t *testing.T) {
	f := newFakeHF(t)
	_, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/missing.gguf"), Cache{Dir: t.TempDir()})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestPullRetriesServerErrors(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(200_000, 8)
	f.add("o/r/m.gguf", content)
	f.failures, f.failCode = 2, http.StatusServiceUnavailable
	m, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), Cache{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if f.gets() != 3 {
		t.Errorf("CDN GETs: got %d, want 3", f.gets())
	}
}

func TestPullGivesUpAfterRetries(t *testing.T) {
	f := newFakeHF(t)
	f.add("o/r/m.gguf", randomBytes(1000, 9))
	f.failures, f.failCode = 100, http.StatusBadGateway
	p := newPuller(f)
	p.Retries = 2
	_, err := p.Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), Cache{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("got %v, want a failure mentioning 502", err)
	}
	if f.gets() != 3 {
		t.Errorf("CDN GETs: got %d, want 3 (first try and 2 retries)", f.gets())
	}
}

func TestPullPlainURLWithoutChecksum(t *testing.T) {
	content := randomBytes(300_000, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
	}))
	defer srv.Close()
	cache := Cache{Dir: t.TempDir()}
	src := hfSource(t, srv.URL+"/files/tiny.gguf")
	m, err := (&Puller{HTTP: NewHTTPClient(2 * time.Second), Token: "hf_never_sent"}).Pull(context.Background(), src, cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if m.File != "tiny.gguf" {
		t.Errorf("file name %q", m.File)
	}
}

func TestPullUnreachableFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := &Puller{Endpoint: "http://" + addr, HTTP: NewHTTPClient(2 * time.Second)}
	start := time.Now()
	_, err = p.Pull(context.Background(), hfSource(t, "qwen2.5-0.5b-instruct"), Cache{Dir: t.TempDir()})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v to fail", time.Since(start))
	}
}

func TestReplacesCachedFileWhenServerChanged(t *testing.T) {
	f := newFakeHF(t)
	old := randomBytes(5000, 11)
	f.add("o/r/m.gguf", old)
	cache := Cache{Dir: t.TempDir()}
	p := newPuller(f)
	if _, err := p.Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache); err != nil {
		t.Fatal(err)
	}
	updated := randomBytes(6000, 12)
	f.add("o/r/m.gguf", updated)
	m, err := p.Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, updated)
}

func TestPullStartsOverWhenKeptBytesAreCorrupt(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(1<<20, 15)
	f.add("o/r/m.gguf", content)
	cache := Cache{Dir: t.TempDir()}
	// Half a file from an earlier run, with one flipped byte.
	kept := append([]byte(nil), content[:len(content)/2]...)
	kept[1234] ^= 0xff
	if err := os.WriteFile(partAt(t, cache, "hf://o/r/m.gguf"), kept, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if got := f.ranges(); len(got) != 2 || got[0] != "bytes=524288-" || got[1] != "" {
		t.Errorf("ranges %q, want a resume and then a whole download", got)
	}
}

func TestPullAdoptsIdenticalFilePutThereByHand(t *testing.T) {
	f := newFakeHF(t)
	content := randomBytes(50_000, 16)
	f.add("o/r/m.gguf", content)
	cache := Cache{Dir: t.TempDir()}
	if err := os.WriteFile(cache.Path("m.gguf"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := newPuller(f).Pull(context.Background(), hfSource(t, "hf://o/r/m.gguf"), cache)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, m, content)
	if f.gets() != 0 {
		t.Errorf("downloaded a file that was already there (%d GETs)", f.gets())
	}
}
