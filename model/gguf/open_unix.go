//go:build unix

package gguf

import (
	"fmt"
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Open maps the file at path read-only and parses it. The tensor data stay
// in the mapping (the page cache), not on the Go heap, until Close. The
// file must not be truncated or rewritten in place while it is open
// (replacing it by rename, as Writer.WriteFile does, is safe).
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close() // the mapping outlives the descriptor
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("gguf: %s is not a regular file", path)
	case size == 0:
		return nil, fmt.Errorf("%w: %s is empty", ErrMalformed, path)
	case size > math.MaxInt:
		return nil, fmt.Errorf("%w: %s is %d bytes, too large to map", ErrUnsupported, path, size)
	}
	data, err := unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("gguf: mapping %s: %w", path, err)
	}
	f, err := parse(data, true)
	if err != nil {
		_ = unix.Munmap(data)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.release = releasePages
	f.unmap = func() error {
		if err := unix.Munmap(data); err != nil {
			return fmt.Errorf("gguf: unmapping %s: %w", path, err)
		}
		return nil
	}
	return f, nil
}

// releasePages drops the whole pages inside b, a slice of a read-only
// file mapping, from the process's resident memory.
func releasePages(b []byte) error {
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	first := (start + page - 1) &^ (page - 1)
	last := (start + uintptr(len(b))) &^ (page - 1)
	if last <= first {
		return nil
	}
	off := int(first - start)
	return unix.Madvise(b[off:off+int(last-first)], unix.MADV_DONTNEED)
}
