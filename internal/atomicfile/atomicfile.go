// Package atomicfile writes files that readers see either whole or not at
// all: through a temporary file in the same folder, synced, then renamed
// over the target.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WritePrivate writes data to path with mode 0600 (the file may hold a
// login token), so that a crash leaves the old file or the new one, never
// half a file.
func WritePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}
