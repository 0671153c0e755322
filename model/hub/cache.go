package hub

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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

// Cache is a directory of downloaded models: each FILE.gguf with its
// FILE.gguf.sha256 beside it, and FILE.gguf.part while it downloads.
type Cache struct {
	Dir string
}

// Path is where a file of that name lives in the cache.
func (c Cache) Path(file string) string { return filepath.Join(c.Dir, file) }

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

// List returns the complete models in the cache, sorted by file name. A
// missing directory is an empty cache.
func (c Cache) List() ([]CachedModel, error) {
	ents, err := os.ReadDir(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model cache: %w", err)
	}
	var out []CachedModel
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(strings.ToLower(e.Name()), ".gguf") {
			continue
		}
		m, err := c.stat(e.Name())
		if err != nil {
			continue // a dangling link or an unreadable file: list the rest
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

func (c Cache) stat(file string) (CachedModel, error) {
	p := c.Path(file)
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
// name.
// A reference finds a file only if it was pulled from that source.
func (c Cache) Find(ref string) (CachedModel, error) {
	file := ref
	src, err := ParseSource(ref)
	if err == nil {
		file = src.FileName()
	}
	if checkFileName(file) != nil {
		return CachedModel{}, fmt.Errorf("%w: %s", ErrNotCached, ref)
	}
	m, serr := c.stat(file)
	if serr == nil && err == nil && m.Source != sourceID(src) {
		return CachedModel{}, fmt.Errorf("%w: %s (the cached %s comes from %s)", ErrNotCached, ref, file, sourceOrUnknown(m.Source))
	}
	return m, serr
}

func sourceOrUnknown(s string) string {
	if s == "" {
		return "an unknown source"
	}
	return s
}

// Remove deletes a model, its checksum and any unfinished download of it.
// It returns the removed model's path.
func (c Cache) Remove(ref string) (string, error) {
	file := ref
	if src, err := ParseSource(ref); err == nil {
		file = src.FileName()
	}
	if checkFileName(file) != nil {
		return "", fmt.Errorf("%w: %s", ErrNotCached, ref)
	}
	p := c.Path(file)
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
	return p, nil
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
