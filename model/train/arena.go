package train

import (
	"unsafe"

	"github.com/chatloop/chatloop/internal/offheap"
)

// A training step needs about a gigabyte of activations at Qwen2.5-0.5B's
// shape (the tape of a 640-row pair: 24 blocks of 640×13,600 floats, and
// the backward pass's buffers). Made afresh for every step, that memory
// costs a page fault per 4 KiB when it is first written (a quarter of a
// million faults, a second or two of kernel time per step), and, held by
// the Go heap, it doubles the collector's heap goal, so that garbage may
// grow the process by as much again before a collection. An arena keeps
// it across steps instead, outside the Go heap where the system allows
// (internal/offheap: anonymous memory advised for transparent huge pages),
// and hands it out again, unzeroed, for each step.

// arenaChunk is the size of an arena's chunks in floats (128 MiB of
// address space; pages become resident only as they are written).
const arenaChunk = 32 << 20

// arena hands out float32 buffers from chunks that it keeps until free.
// Buffers are not zeroed. reset makes all of them available again.
type arena struct {
	chunks   [][]float32
	releases []func()
	ci, off  int // the next buffer starts in chunk ci at off
}

// alloc returns n floats (not zeroed), aligned to 64 bytes.
func (a *arena) alloc(n int) []float32 {
	for a.ci < len(a.chunks) {
		if c := a.chunks[a.ci]; a.off+n <= len(c) {
			s := c[a.off : a.off+n : a.off+n]
			a.off = (a.off + n + 15) &^ 15
			return s
		}
		a.ci, a.off = a.ci+1, 0
	}
	c, release := offHeapFloats(max(n, arenaChunk))
	a.chunks, a.releases = append(a.chunks, c), append(a.releases, release)
	a.ci, a.off = len(a.chunks)-1, 0
	return a.alloc(n)
}

// reset makes every buffer handed out available again.
func (a *arena) reset() { a.ci, a.off = 0, 0 }

// free returns the chunks to the system; no buffer may be used after it.
func (a *arena) free() {
	for _, release := range a.releases {
		release()
	}
	a.chunks, a.releases = nil, nil
	a.reset()
}

// allocator hands out float32 buffers: from an arena, or, when nil, new
// zeroed ones from the Go heap.
type allocator struct{ a *arena }

func (al allocator) floats(n int) []float32 {
	if al.a == nil {
		return make([]float32, n)
	}
	return al.a.alloc(n)
}

// zeros returns n floats set to zero.
func (al allocator) zeros(n int) []float32 {
	s := al.floats(n)
	if al.a != nil {
		clear(s)
	}
	return s
}

// offHeapBytes returns n zeroed bytes outside the Go heap
// (internal/offheap: anonymous memory advised for transparent huge pages,
// a fault per 2 MiB rather than per 4 KiB where the system allows it) and
// the function that releases them; nothing may use the bytes after it. If
// the mapping fails, they come from the heap.
func offHeapBytes(n int) ([]byte, func()) {
	if n <= 0 {
		return nil, func() {}
	}
	b, release, err := offheap.Alloc(n)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { _ = release() }
}

// offHeapFloats is offHeapBytes for n floats.
func offHeapFloats(n int) ([]float32, func()) {
	b, release := offHeapBytes(4 * n)
	if len(b) == 0 {
		return nil, release
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n), release
}
