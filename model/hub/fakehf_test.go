package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHF behaves like Hugging Face for GGUF downloads: the hub answers
// /OWNER/REPO/resolve/main/FILE with a 302 to a CDN on another server,
// carrying X-Linked-Etag (the SHA-256) and X-Linked-Size; the CDN serves
// the bytes with Range support. Faults can be switched on per test.
type fakeHF struct {
	hub, cdn *httptest.Server

	mu sync.Mutex
	// files maps "OWNER/REPO/FILE" to its content.
	files map[string][]byte
	// publish overrides the SHA-256 published for a path (a wrong one).
	publish map[string]string
	// gated maps a repository to the token it requires.
	gated map[string]string
	// cuts is how many more CDN responses are cut after cutAt bytes.
	cuts  int
	cutAt int64
	// ignoreRange makes the CDN answer 200 with the whole file.
	ignoreRange bool
	// failures is how many more CDN requests get failCode first.
	failures int
	failCode int

	// Seen by the CDN.
	rangeLog []string
	authLog  []string
	nBytes   int64
	nGets    int
}

func newFakeHF(t testing.TB) *fakeHF {
	t.Helper()
	f := &fakeHF{files: map[string][]byte{}, publish: map[string]string{}, gated: map[string]string{}}
	f.cdn = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	t.Cleanup(func() { f.hub.Close(); f.cdn.Close() })
	return f
}

func (f *fakeHF) add(path string, content []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path] = content
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

func (f *fakeHF) serveHub(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	owner, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	repo, rest, _ := strings.Cut(rest, "/")
	file, ok := strings.CutPrefix(rest, "resolve/main/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if tok, gated := f.gated[owner+"/"+repo]; gated && r.Header.Get("Authorization") != "Bearer "+tok {
		w.Header().Set("X-Error-Code", "GatedRepo")
		http.Error(w, "Access to model "+owner+"/"+repo+" is restricted.", http.StatusUnauthorized)
		return
	}
	content, ok := f.files[owner+"/"+repo+"/"+file]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		http.Error(w, "Entry not found", http.StatusNotFound)
		return
	}
	sum := sha256.Sum256(content)
	blob := hex.EncodeToString(sum[:])
	published := blob
	if p, ok := f.publish[owner+"/"+repo+"/"+file]; ok {
		published = p
	}
	w.Header().Set("X-Linked-Etag", `"`+published+`"`)
	w.Header().Set("X-Linked-Size", fmt.Sprint(len(content)))
	w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef01234567"`) // a git id, not the digest
	w.Header().Set("Location", f.cdn.URL+"/blobs/"+blob+"?X-Amz-Signature=secret")
	w.WriteHeader(http.StatusFound)
}

func (f *fakeHF) serveCDN(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	blob := strings.TrimPrefix(r.URL.Path, "/blobs/")
	var content []byte
	for _, c := range f.files {
		if sum := sha256.Sum256(c); hex.EncodeToString(sum[:]) == blob {
			content = c
		}
	}
	if r.Method == http.MethodGet {
		f.nGets++
		f.rangeLog = append(f.rangeLog, r.Header.Get("Range"))
		f.authLog = append(f.authLog, r.Header.Get("Authorization"))
	}
	fail := 0
	if f.failures > 0 {
		f.failures--
		fail = f.failCode
	}
	cut := int64(-1)
	if f.cuts > 0 && r.Method == http.MethodGet {
		f.cuts--
		cut = f.cutAt
	}
	if f.ignoreRange {
		r.Header.Del("Range")
	}
	f.mu.Unlock()

	if content == nil {
		http.NotFound(w, r)
		return
	}
	if fail != 0 {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "try later", fail)
		return
	}
	cw := &countingWriter{ResponseWriter: w, limit: cut, f: f}
	http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(content))
}

// countingWriter counts body bytes and, with a limit, sends that many
// and then drops the connection, as a network cut does.
type countingWriter struct {
	http.ResponseWriter
	n, limit int64
	f        *fakeHF
}

func (c *countingWriter) count(n int) {
	c.n += int64(n)
	c.f.mu.Lock()
	c.f.nBytes += int64(n) // before the client can have read them
	c.f.mu.Unlock()
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.limit >= 0 && c.n+int64(len(p)) > c.limit {
		k := c.limit - c.n
		c.count(int(k))
		c.ResponseWriter.Write(p[:k])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	c.count(len(p))
	return c.ResponseWriter.Write(p)
}

// What the CDN saw, read safely while servers run.

func (f *fakeHF) gets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nGets
}

func (f *fakeHF) ranges() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.rangeLog...)
}

func (f *fakeHF) cdnAuth() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.authLog...)
}

func (f *fakeHF) served() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nBytes
}
