//go:build unix

// Package offheap allocates memory outside the Go heap: anonymous
// mappings the collector neither scans nor counts, advised for
// transparent huge pages where the system takes that advice. The model's
// packed weights and the training step's arena live there.
package offheap

import "golang.org/x/sys/unix"

// Alloc returns n zeroed bytes of anonymous private memory and the
// function that unmaps them; nothing may use the bytes after it.
func Alloc(n int) ([]byte, func() error, error) {
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, nil, err
	}
	adviseHugePages(mem)
	return mem, func() error { return unix.Munmap(mem) }, nil
}
