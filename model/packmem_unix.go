//go:build unix

package model

import "golang.org/x/sys/unix"

// allocPacked returns n bytes of zeroed memory outside the Go heap (an
// anonymous private mapping) for the packed weights, and the function
// that unmaps it.
func allocPacked(n int) ([]byte, func() error, error) {
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, nil, err
	}
	adviseHugePages(mem)
	return mem, func() error { return unix.Munmap(mem) }, nil
}
