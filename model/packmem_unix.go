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
	// Huge pages, where the kernel has them for the asking: 2 MiB pages
	// are filled with a 512th of the page faults (loading is several times
	// faster in a virtual machine) and spare the kernels TLB misses. The
	// advice is only advice: without it the memory is the same.
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	return mem, func() error { return unix.Munmap(mem) }, nil
}
