//go:build !unix

package model

import (
	"io"
	"os"
)

// mapPacked reads n bytes of f from off into the Go heap.
func mapPacked(f *os.File, off int64, n int) ([]byte, func() error, error) {
	mem := make([]byte, n)
	if _, err := f.ReadAt(mem, off); err != nil && err != io.EOF {
		return nil, nil, err
	}
	return mem, func() error { return nil }, nil
}
