package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/chatloop/chatloop/internal/atomicfile"
	"io/fs"
	"os"
	"sync"

	"github.com/eatmoreapple/openwechat"
)

// loginStorage is openwechat's hot-reload storage kept in a file of mode
// 0600: the session's cookies and keys are as good as a password. Every
// Write is one whole document (openwechat encodes it in a single Write) and
// replaces the file atomically, so a crash never leaves half a session.
type loginStorage struct {
	path string
	// readable is false for a fresh QR login: reading fails at once, so
	// openwechat falls through to the scan, and later writes save the new
	// session.
	readable bool

	mu sync.Mutex
	r  *bytes.Reader
	// jar is the cookie jar of the saved session, by site. openwechat
	// restores cookies without noting their sites, so its next dump
	// would drop them; Write puts them back.
	jar map[string]json.RawMessage
	// closed turns later writes away: the login is over, and a late dump
	// from its goroutine must not overwrite the next login's session.
	closed bool
}

// errStorageClosed is returned by writes after close.
var errStorageClosed = errors.New("the login is over")

// close ends writing; a write under way finishes first.
func (s *loginStorage) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func newLoginStorage(path string, readable bool) *loginStorage {
	return &loginStorage{path: path, readable: readable}
}

// Read serves the saved session.
func (s *loginStorage) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.readable {
		return 0, openwechat.ErrInvalidStorage
	}
	if s.r == nil {
		b, err := os.ReadFile(s.path)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, openwechat.ErrInvalidStorage
		}
		if err != nil {
			return 0, fmt.Errorf("reading the saved WeChat session: %w", err)
		}
		s.r = bytes.NewReader(b)
		s.jar = jarOf(b)
	}
	return s.r.Read(p)
}

// Write replaces the saved session with p.
func (s *loginStorage) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errStorageClosed
	}
	doc := p
	if len(s.jar) > 0 {
		doc = mergeJar(p, s.jar)
	}
	if err := atomicfile.WritePrivate(s.path, doc); err != nil {
		return 0, fmt.Errorf("saving the WeChat session: %w", err)
	}
	return len(p), nil
}

// jarOf returns the cookie jar of a saved session document, by site.
func jarOf(doc []byte) map[string]json.RawMessage {
	var top struct{ Jar map[string]json.RawMessage }
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil
	}
	return top.Jar
}

// mergeJar adds to doc's cookie jar the sites of base it lacks. doc is
// returned unchanged when it cannot be read.
func mergeJar(doc []byte, base map[string]json.RawMessage) []byte {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return doc
	}
	jar := map[string]json.RawMessage{}
	if raw, ok := top["Jar"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &jar); err != nil || jar == nil {
			return doc
		}
	}
	for site, cookies := range base {
		if _, ok := jar[site]; !ok {
			jar[site] = cookies
		}
	}
	raw, err := json.Marshal(jar)
	if err != nil {
		return doc
	}
	top["Jar"] = raw
	out, err := json.Marshal(top)
	if err != nil {
		return doc
	}
	return append(out, '\n')
}

// savedSession reports whether a saved session file exists.
func savedSession(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}
