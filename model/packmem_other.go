//go:build !unix

package model

import (
	"io"
	"os"
)

// allocPacked returns n bytes for the packed weights: on this platform
// from the Go heap, freed when nothing refers to them.
func allocPacked(n int) ([]byte, func() error, error) {
	return make([]byte, n), func() error { return nil }, nil
}

// mapPacked reads n bytes of f from off into the Go heap.
func mapPacked(f *os.File, off int64, n int) ([]byte, func() error, error) {
	mem := make([]byte, n)
	if _, err := f.ReadAt(mem, off); err != nil && err != io.EOF {
		return nil, nil, err
	}
	return mem, func() error { return nil }, nil
}
