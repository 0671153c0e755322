//go:build unix

package train

import "golang.org/x/sys/unix"

// offHeap returns n zeroed bytes of anonymous memory outside the Go heap
// (the collector neither scans nor counts it), advised for transparent
// huge pages (a fault per 2 MiB rather than per 4 KiB where the system
// allows it), and the function that releases them; nothing may use the
// bytes after it. If the mapping fails, the bytes come from the heap.
func offHeap(n int) ([]byte, func()) {
	if n <= 0 {
		return nil, func() {}
	}
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return make([]byte, n), func() {}
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // a hint; without it the pages are 4 KiB // a hint; without it the pages are 4 KiB
	return b, func() { _ = unix.Munmap(b) }
}
