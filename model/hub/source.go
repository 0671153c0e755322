package hub

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// ErrBadSource is returned (wrapped) for a model reference that is neither
// a catalogue name, an hf:// reference nor an http(s) URL of a .gguf file.
var ErrBadSource = errors.New("not a model reference")

// Source is where a model comes from: a Hugging Face repository file or a
// plain URL.
type Source struct {
	// Name is the catalogue name when the source came from the catalogue.
	Name string
	// Repo ("owner/name") and File (path inside the repository) locate a
	// Hugging Face file; both are empty for a plain URL.
	Repo, File string
	// URL is the download address of a plain URL source.
	URL string
}

// ParseSource reads a catalogue name, "hf://OWNER/REPO/FILE.gguf" or an
// http(s) URL ending in .gguf.
func ParseSource(s string) (Source, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Source{}, fmt.Errorf("%w: empty", ErrBadSource)
	case strings.HasPrefix(s, "hf://"):
		return parseHF(s)
	case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
		return parseURL(s)
	}
	if e, ok := Lookup(s); ok {
		return Source{Name: e.Name, Repo: e.Repo, File: e.File}, nil
	}
	return Source{}, fmt.Errorf("%w: %q is not in the catalogue (see \"chatloop model list --all\"); use hf://OWNER/REPO/FILE.gguf or an https URL", ErrBadSource, s)
}

func parseHF(s string) (Source, error) {
	parts := strings.Split(strings.TrimPrefix(s, "hf://"), "/")
	if len(parts) < 3 {
		return Source{}, fmt.Errorf("%w: %q: want hf://OWNER/REPO/FILE.gguf", ErrBadSource, s)
	}
	for i, p := range parts {
		if !validSegment(p, i < 2) {
			return Source{}, fmt.Errorf("%w: %q: bad path segment %q", ErrBadSource, s, p)
		}
	}
	src := Source{Repo: parts[0] + "/" + parts[1], File: strings.Join(parts[2:], "/")}
	if err := checkFileName(src.FileName()); err != nil {
		return Source{}, fmt.Errorf("%w: %q: %v", ErrBadSource, s, err)
	}
	return src, nil
}

func parseURL(s string) (Source, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return Source{}, fmt.Errorf("%w: %q is not a valid URL", ErrBadSource, s)
	}
	if u.User != nil {
		return Source{}, fmt.Errorf("%w: %q: credentials in URLs are not supported", ErrBadSource, redact(u))
	}
	src := Source{URL: u.String()}
	if err := checkFileName(src.FileName()); err != nil {
		return Source{}, fmt.Errorf("%w: %q: %v", ErrBadSource, s, err)
	}
	return src, nil
}

// validSegment accepts Hugging Face owner and repository names (letters,
// digits, '-', '_', '.') and, for file path segments, anything printable
// without separators that is not "." or "..".
func validSegment(p string, repoPart bool) bool {
	if p == "" || p == "." || p == ".." {
		return false
	}
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		case repoPart:
			return false
		case r < 0x20 || r == 0x7f || r == '\\' || r == '?' || r == '#' || r == '%':
			return false
		}
	}
	return true
}

// checkFileName accepts a base name usable in the cache directory.
func checkFileName(name string) error {
	switch {
	case name == "" || name == "." || name == "/":
		return errors.New("no file name")
	case strings.HasPrefix(name, "."):
		return errors.New("file name starts with a dot")
	case strings.ContainsAny(name, "/\\\x00"):
		return errors.New("file name contains a separator")
	case !strings.HasSuffix(strings.ToLower(name), ".gguf"):
		return fmt.Errorf("%q is not a .gguf file", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errors.New("file name contains a control character")
		}
	}
	return nil
}

// FileName is the name the file gets in the cache.
func (s Source) FileName() string {
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		if err != nil {
			return ""
		}
		return path.Base(u.Path)
	}
	return path.Base(s.File)
}

// IsHF reports whether the source is a Hugging Face repository file.
func (s Source) IsHF() bool { return s.Repo != "" }

// DownloadURL is where the file is fetched from; endpoint is the Hugging
// Face endpoint ("https://huggingface.co" or a mirror) for HF sources.
func (s Source) DownloadURL(endpoint string) string {
	if s.URL != "" {
		return s.URL
	}
	segs := strings.Split(s.Repo+"/resolve/main/"+s.File, "/")
	for i, p := range segs {
		segs[i] = url.PathEscape(p)
	}
	return strings.TrimRight(endpoint, "/") + "/" + strings.Join(segs, "/")
}

// String names the source the way a user would type it.
func (s Source) String() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.URL != "":
		return s.URL
	}
	return "hf://" + s.Repo + "/" + s.File
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
