package kvcache

import "sort"

// HeapBytes is the memory the cache holds on the Go heap: its key/value
// pages, its token list and page table at their capacities, and the Cache
// itself, each rounded up as Go's allocator rounds an allocation (to its
// size classes up to 32 KiB, to whole 8 KiB pages above). Bytes counts
// the keys and values alone.
func (c *Cache) HeapBytes() int64 {
	const cacheStruct = 3*8 + 2*24 // three ints, two slice headers
	n := allocSize(cacheStruct) + allocSize(int64(cap(c.pages))*24) + allocSize(int64(cap(c.tokens))*8)
	for _, p := range c.pages {
		n += allocSize(int64(cap(p)) * 2)
	}
	return n
}

// sizeClasses are the sizes of Go's small-object allocations (the
// runtime's size classes, go1.2x), up to 32 KiB.
var sizeClasses = []int64{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
	10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// allocSize is the memory an allocation of n bytes takes.
func allocSize(n int64) int64 {
	if n <= 0 {
		return 0
	}
	if n > 32768 {
		const page = 8192
		return (n + page - 1) / page * page
	}
	return sizeClasses[sort.Search(len(sizeClasses), func(i int) bool { return sizeClasses[i] >= n })]
}
