//go:build unix

package model

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapPacked maps n bytes of f from off (page-aligned), private and
// writable (nothing writes; a write would stay in this process), and
// returns the function that unmaps them.
func mapPacked(f *os.File, off int64, n int) ([]byte, func() error, error) {
	mem, err := unix.Mmap(int(f.Fd()), off, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return mem, func() error { return unix.Munmap(mem) }, nil
}
