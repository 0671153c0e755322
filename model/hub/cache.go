package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNotCached is returned (wrapped) when a model is not in the cache.
var ErrNotCached = errors.New("model not in the cache")

// Suffixes of the files kept beside a model in the cache.
const (
	partSuffix     = ".part"   // an unfinished download
	checksumSuffix = ".sha256" // the verified digest, in sha256sum format
)

// DefaultCacheDir is $XDG_CACHE_HOME/chatloop/models, else
// ~/.cache/chatloop/models.
func DefaultCacheDir() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "chatloop", "models"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("model cache: no home directory (set model.cache_dir): %w", err)
	}
	return filepath.Join(home, ".cache", "chatloop", "models"), nil
}

// Cache is a directory of downloaded models, keyed by source: a Hugging
// Face file lives in DIR/hf/OWNER/REPO/FILE.gguf, a file from a URL in
// DIR/url/HOST/HASH/FILE.gguf (HASH: the first 16 hex digits of the URL's
// SHA-256), each with FILE.gguf.sha256 and FILE.gguf.source beside it and
// FILE.gguf.part while it downloads. Two sources of one file name are
// thus cached side by side.
//
// Files of the old flat layout (DIR/FILE.gguf, before the cache was keyed
// by source) are still listed and found; one whose recorded source is
// asked for is moved to that source's place.
type Cache struct {
	Dir string
}

// Path is where a file of that name lives in the old flat layout (and
// where files put there by hand are looked for).
func (c Cache) Path(file string) string { return filepath.Join(c.Dir, file) }

// PathFor is where the file of src lives in the cache.
func (c Cache) PathFor(src Source) string {
	file := src.FileName()
	if src.Repo != "" {
		owner, repo, _ := strings.Cut(src.Repo, "/")
		return filepath.Join(c.Dir, "hf", owner, repo, file)
	}
	host := "unknown"
	if u, err := url.Parse(src.URL); err == nil && u.Host != "" {
		host = strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
				return r
			}
			return '_'
		}, u.Host)
		if host == "." || host == ".." {
			host = "_"
		}
	}
	sum := sha256.Sum256([]byte(src.URL))
	return filepath.Join(c.Dir, "url", host, hex.EncodeToString(sum[:8]), file)
}

// adopt moves an old-layout file whose recorded source is src to src's
// place, with its checksum and source files, unless that place is taken.
func (c Cache) adopt(src Source) {
	old, dst := c.Path(src.FileName()), c.PathFor(src)
	if checkFileName(src.FileName()) != nil || readSource(old) != sourceID(src) {
		return
	}
	if fi, err := os.Lstat(old); err != nil || !fi.Mode().IsRegular() {
		return
	}
	if _, err := os.Lstat(dst); err == nil {
		return
	}
	c.move(old, dst)
}

// move renames a model file and the files beside it from old to dst.
func (c Cache) move(old, dst string) {
	if c.makeSourceDir(dst) != nil {
		return
	}
	for _, sfx := range []string{checksumSuffix, sourceSuffix, ""} {
		_ = os.Rename(old+sfx, dst+sfx)
	}
}

// CachedModel is one complete file in the cache.
type CachedModel struct {
	File string // base name, e.g. "qwen2.5-0.5b-instruct-q8_0.gguf"
	Path string
	Size int64
	// SHA256 is the recorded digest (hex), empty when none is recorded.
	SHA256 string
	// Name is the catalogue name whose file this is, if any.
	Name string
	// Source is where the file was pulled from (hf://OWNER/REPO/FILE or
	// a URL), "" when unknown (a file put there by hand).
	Source string
}

// List returns the complete models in the cache (both layouts), sorted
// by file name, then source. A missing directory is an empty cache.
func (c Cache) List() ([]CachedModel, error) {
	if _, err := os.Stat(c.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var out []CachedModel
	err := filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == c.Dir {
				return err
			}
			return nil // an unreadable corner: list the rest
		}
		rel, _ := filepath.Rel(c.Dir, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if d.IsDir() {
			// Only DIR itself and DIR/hf/O/R, DIR/url/H/X are walked.
			switch {
			case rel == ".":
				return nil
			case parts[0] != "hf" && parts[0] != "url", len(parts) > 3:
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(strings.ToLower(d.Name()), ".gguf") || len(parts) != 1 && len(parts) != 4 {
			return nil
		}
		m, err := c.statAt(p)
		if err != nil {
			return nil // a dangling link or an unreadable file: list the rest
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model cache: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Source < out[j].Source
	})
	return out, nil
}

func (c Cache) stat(file string) (CachedModel, error) { return c.statAt(c.Path(file)) }

// statAt describes the model file at p.
func (c Cache) statAt(p string) (CachedModel, error) {
	file := filepath.Base(p)
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return CachedModel{}, fmt.Errorf("%w: %s", ErrNotCached, file)
		}
		return CachedModel{}, fmt.Errorf("model cache: %w", err)
	}
	sum, err := ReadChecksum(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return CachedModel{}, err
	}
	if !fi.Mode().IsRegular() {
		return CachedModel{}, fmt.Errorf("model cache: %s is not a regular file", p)
	}
	m := CachedModel{File: file, Path: p, Size: fi.Size(), SHA256: sum, Source: readSource(p)}
	// The catalogue's name only for a file pulled from the catalogue's
	// repository (and with its pinned digest, where one is pinned): a file
	// of the same name from anywhere else is not the catalogue model.
	if e, ok := catalogueEntry(m.Source); ok && (e.SHA256 == "" || e.SHA256 == m.SHA256) {
		m.Name = e.Name
	}
	return m, nil
}

// Find looks a model up by catalogue name, reference (hf://, URL) or file
// name. A reference finds a file only if it was pulled from that source; a
// bare file name finds a file put there by hand, else the one cached file
// of that name (ErrAmbiguous when several sources have one).
func (c Cache) Find(ref string) (CachedModel, error) {
	if src, err := ParseSource(ref); err == nil {
		c.adopt(src)
		m, err := c.statAt(c.PathFor(src))
		if err == nil && m.Source != sourceID(src) {
			return CachedModel{}, fmt.Errorf("%w: %s (the cached %s comes from %s)", ErrNotCached, ref, m.File, sourceOrUnknown(m.Source))
		}
		return m, err
	}
	if checkFileName(ref) != nil {
		return CachedModel{}, fmt.Errorf("%w: %s", ErrNotCached, ref)
	}
	if m, err := c.stat(ref); err == nil || !errors.Is(err, ErrNotCached) {
		return m, err
	}
	l, err := c.List()
	if err != nil {
		return CachedModel{}, err
	}
	var found []CachedModel
	for _, m := range l {
		if m.File == ref {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return CachedModel{}, fmt.Errorf("%w: %s", ErrNotCached, ref)
	case 1:
		return found[0], nil
	}
	var srcs []string
	for _, m := range found {
		srcs = append(srcs, sourceOrUnknown(m.Source))
	}
	return CachedModel{}, fmt.Errorf("%w: %s comes from %s; name the one you mean by its source", ErrAmbiguous, ref, strings.Join(srcs, " and "))
}

func sourceOrUnknown(s string) string {
	if s == "" {
		return "an unknown source"
	}
	return s
}

// Remove deletes a model, its checksum, its source record and any
// unfinished download of it. It returns the removed model's path.
func (c Cache) Remove(ref string) (string, error) {
	var p string
	if src, err := ParseSource(ref); err == nil {
		c.adopt(src)
		p = c.PathFor(src)
	} else if m, err := c.Find(ref); err == nil {
		p = m.Path
	} else if errors.Is(err, ErrAmbiguous) {
		return "", err
	} else if checkFileName(ref) == nil {
		p = c.Path(ref) // perhaps only an unfinished download
	} else {
		return "", fmt.Errorf("%w: %s", ErrNotCached, ref)
	}
	found := false
	for _, q := range []string{p, p + checksumSuffix, p + partSuffix, p + sourceSuffix} {
		err := os.Remove(q)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("model cache: %w", err)
		}
	}
	if !found {
		return "", fmt.Errorf("%w: %s", ErrNotCached, ref)
	}
	c.removeEmptyDirs(p)
	return p, nil
}

// removeEmptyDirs removes the empty source directories above the file p
// (never the cache directory itself).
func (c Cache) removeEmptyDirs(p string) {
	for d := filepath.Dir(p); d != c.Dir && strings.HasPrefix(d, c.Dir+string(filepath.Separator)); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
}

// ReadChecksum reads the SHA-256 recorded beside a model file.
func ReadChecksum(modelPath string) (string, error) {
	b, err := os.ReadFile(modelPath + checksumSuffix)
	if err != nil {
		return "", fmt.Errorf("model checksum: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 || !isSHA256(f[0]) {
		return "", fmt.Errorf("model checksum: %s%s is not in sha256sum format", modelPath, checksumSuffix)
	}
	return strings.ToLower(f[0]), nil
}

// writeChecksum records sum beside modelPath atomically, in the format
// "sha256sum -c" reads.
func writeChecksum(modelPath, sum string) error {
	line := sum + "  " + filepath.Base(modelPath) + "\n"
	return writeFileNoFollow(modelPath+checksumSuffix, []byte(line))
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// ErrAmbiguous is returned (wrapped) when a bare file name matches files
// cached from several sources.
var ErrAmbiguous = errors.New("several cached models have that file name")

// adoptByHand moves a file put in the cache directory by hand (old
// layout, no source recorded) to final when it is the file rem describes:
// same size and the published digest.
func (c Cache) adoptByHand(rem Remote, final string) {
	old := c.Path(rem.Source.FileName())
	if rem.SHA256 == "" || readSource(old) != "" {
		return
	}
	fi, err := os.Lstat(old)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != rem.Size {
		return
	}
	if _, err := os.Lstat(final); err == nil {
		return
	}
	if sum, err := fileSHA256(old); err != nil || sum != rem.SHA256 {
		return
	}
	if writeChecksum(old, rem.SHA256) != nil || writeSource(old, rem.Source) != nil {
		return
	}
	c.move(old, final)
}

// makeSourceDir makes the directories from the cache directory down to
// final's, refusing any that is a symbolic link: a link planted there
// would have the download written elsewhere.
func (c Cache) makeSourceDir(final string) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	rel, err := filepath.Rel(c.Dir, filepath.Dir(final))
	if err != nil || rel == "." {
		return err
	}
	d := c.Dir
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		d = filepath.Join(d, part)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("model cache: %w", err)
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return fmt.Errorf("model cache: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
			return fmt.Errorf("model cache: %s is a symbolic link or not a directory; refusing to download through it", d)
		}
	}
	return nil
}
