package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// DefaultMaxSize caps a download whose size is neither declared by the
// server nor known from the catalogue: Hugging Face's own limit on one
// file (50 GB), so no real GGUF file is cut, and an endless body from a
// hostile mirror stops there.
const DefaultMaxSize = 50 << 30

// MaxBadResumes is how many times a server may answer a resume with the
// wrong range (or ignore the range) before the download is given up: each
// such answer restarts from zero, so a broken or hostile mirror would
// otherwise download forever.
const MaxBadResumes = 3

// errTooLarge is wrapped when a download passes its size limit.
var errTooLarge = errors.New("download larger than allowed")

// sourceSuffix names the file beside a model that records where it was
// pulled from.
const sourceSuffix = ".source"

// sourceID is how a source is recorded: hf://OWNER/REPO/FILE or the URL.
func sourceID(s Source) string {
	if s.Repo != "" {
		return "hf://" + s.Repo + "/" + s.File
	}
	return s.URL
}

// catalogueEntry finds the catalogue entry of a source by repository and
// file (not by name: a source is the catalogue model only if it comes from
// the catalogue's repository).
func catalogueEntry(id string) (Entry, bool) {
	for _, e := range catalogue {
		if "hf://"+e.Repo+"/"+e.File == id {
			return e, true
		}
	}
	return Entry{}, false
}

// sizeLimit is the most bytes a download of rem may have: the size the
// server declared, else the catalogue's (exact, or approximate plus 10%),
// else max (DefaultMaxSize when 0 or less).
func sizeLimit(rem Remote, max int64) (int64, string) {
	if rem.Size >= 0 {
		return rem.Size, "the size the server declared"
	}
	if e, ok := catalogueEntry(sourceID(rem.Source)); ok {
		if e.Size > 0 {
			return e.Size, "the catalogue's size"
		}
		if e.ApproxSize > 0 {
			return e.ApproxSize + e.ApproxSize/10, "the catalogue's size"
		}
	}
	if max <= 0 {
		max = DefaultMaxSize
	}
	return max, "the maximum download size"
}

// openNoFollow opens (creating) path for reading and writing without
// following a symbolic link at path: a link planted in the cache must not
// make a download truncate and overwrite its target.
func openNoFollow(path string, flag int) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("model cache: %s is a symbolic link; refusing to write through it (remove it)", path)
	}
	f, err := os.OpenFile(path, flag|oNoFollow, 0o644)
	if err != nil {
		if isLoop(err) {
			return nil, fmt.Errorf("model cache: %s is a symbolic link; refusing to write through it (remove it)", path)
		}
		return nil, fmt.Errorf("model cache: %w", err)
	}
	return f, nil
}

// writeFileNoFollow writes data to path atomically (a temporary file
// beside it, renamed), never through a symbolic link.
func writeFileNoFollow(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := openNoFollow(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp)
		return fmt.Errorf("model cache: writing %s: %w", path, errors.Join(werr, cerr))
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("model cache: %w", err)
	}
	return nil
}

// readSource reads the recorded source of a model file ("" when none).
func readSource(modelPath string) string {
	b, err := os.ReadFile(modelPath + sourceSuffix)
	if err != nil || len(b) > 4096 {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writeSource(modelPath string, src Source) error {
	return writeFileNoFollow(modelPath+sourceSuffix, []byte(sourceID(src)+"\n"))
}
