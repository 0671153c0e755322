package kvcache

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestHalfRoundTripAndRounding(t *testing.T) {
	for h := range uint32(0x10000) {
		x := uint16(h)
		f := ToFloat32(x)
		if math.IsNaN(float64(f)) {
			if y := FromFloat32(f); y&0x7c00 != 0x7c00 || y&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", x, y)
			}
			continue
		}
		if y := FromFloat32(f); y != x && !(f == 0 && y&0x7fff == 0) {
			t.Fatalf("%#04x -> %v -> %#04x", x, f, y)
		}
		// Midpoints to the next larger-magnitude half: ties go to even,
		// anything above goes up, anything below goes down.
		next := x + 1
		if x&0x7fff >= 0x7bff { // largest finite and beyond
			continue
		}
		g := ToFloat32(next)
		mid := float32((float64(f) + float64(g)) / 2)
		even := x
		if x&1 == 1 {
			even = next
		}
		if y := FromFloat32(mid); y != even {
			t.Fatalf("midpoint of %#04x and %#04x (%v): got %#04x, want %#04x", x, next, mid, y, even)
		}
		above := math.Nextafter32(mid, g)
		below := math.Nextafter32(mid, f)
		if y := FromFloat32(above); y != next && above != g {
			t.Fatalf("just above the midpoint of %#04x: got %#04x, want %#04x", x, y, next)
		}
		if y := FromFloat32(below); y != x && below != f {
			t.Fatalf("just below the midpoint of %#04x: got %#04x, want %#04x", x, y, x)
		}
	}
	if got := FromFloat32(70000); got != 0x7c00 {
		t.Errorf("70000: got %#04x, want +Inf", got)
	}
	if got := FromFloat32(1e-9); got != 0 {
		t.Errorf("1e-9: got %#04x, want 0", got)
	}
}

func TestCacheLimits(t *testing.T) {
	c, err := New(2, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	k := []float32{1, 2, 3, 0.1}
	v := []float32{-1, -2, -3, 1e-3}
	for pos := range 3 {
		if err := c.Reserve(1); err != nil {
			t.Fatal(err)
		}
		for l := range 2 {
			c.Put(l, pos, k, v)
		}
		if err := c.Commit(10 + pos); err != nil {
			t.Fatalf("commit %d: %v", pos, err)
		}
	}
	if err := c.Commit(99); !errors.Is(err, ErrFull) {
		t.Fatalf("fourth token in a 3-position cache: got %v, want ErrFull", err)
	}
	if err := c.Reserve(1); !errors.Is(err, ErrFull) {
		t.Fatalf("reserving a fourth position in a 3-position cache: got %v, want ErrFull", err)
	}
	if err := c.Room(0); err != nil {
		t.Errorf("Room(0) on a full cache: %v", err)
	}
	if got := c.Len(); got != 3 {
		t.Errorf("Len after a refused commit: got %d, want 3", got)
	}
	key := make([]uint16, 4)
	c.Key(1, 2, key)
	if got := ToFloat32(key[3]); got != ToFloat32(FromFloat32(0.1)) || got == 0.1 {
		t.Errorf("stored key: got %v, want 0.1 rounded to F16", got)
	}
	if got := ToFloat32(c.Value(0, 1)[0]); got != -1 {
		t.Errorf("stored value: got %v, want -1", got)
	}
	if got := c.CommonPrefix([]int{10, 11, 7}); got != 2 {
		t.Errorf("CommonPrefix: got %d, want 2", got)
	}
	c.Truncate(1)
	if err := c.Room(2); err != nil {
		t.Errorf("after Truncate(1), room for 2: %v", err)
	}
	if got := c.Tokens(); len(got) != 1 || got[0] != 10 {
		t.Errorf("tokens after truncate: %v", got)
	}
	if _, err := New(0, 1, 1); err == nil {
		t.Error("New with 0 layers: no error")
	}
}

// fill reserves and puts n positions after c's committed ones, position p
// of layer l holding keys code(l, p, d) and values -code(l, p, d).
func fill(t *testing.T, c *Cache, n int) {
	t.Helper()
	if err := c.Reserve(n); err != nil {
		t.Fatal(err)
	}
	k, v := make([]float32, c.KVDim()), make([]float32, c.KVDim())
	for p := c.Len(); p < c.Len()+n; p++ {
		for l := range c.Layers() {
			for d := range k {
				k[d], v[d] = code(l, p, d), -code(l, p, d)
			}
			c.Put(l, p, k, v)
		}
	}
	toks := make([]int, n)
	for i := range toks {
		toks[i] = c.Len() + i
	}
	if err := c.Commit(toks...); err != nil {
		t.Fatal(err)
	}
}

// code is a value exact in F16 that tells (layer, position, element)
// apart from its neighbours (layers < 4, positions modulo 512).
func code(l, p, d int) float32 { return float32(l*128+p%128) + float32((d+p/128)%4)/4 }

// check verifies positions [from, to) of c hold what fill put there.
func check(t *testing.T, c *Cache, from, to int) {
	t.Helper()
	key := make([]uint16, c.KVDim())
	for p := from; p < to; p++ {
		for l := range c.Layers() {
			c.Key(l, p, key)
			val := c.Value(l, p)
			for d := range key {
				if got, want := ToFloat32(key[d]), code(l, p, d); got != want {
					t.Fatalf("layer %d position %d key %d: %v, want %v", l, p, d, got, want)
				}
				if got, want := ToFloat32(val[d]), -code(l, p, d); got != want {
					t.Fatalf("layer %d position %d value %d: %v, want %v", l, p, d, got, want)
				}
			}
		}
	}
}

func TestPagesGrowWithUse(t *testing.T) {
	const layers, kvDim, size = 3, 8, 600 // pages of 256, 256, 88
	c, err := New(layers, kvDim, size)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bytes() != 0 || c.Pages() != 0 {
		t.Fatalf("new cache: %d bytes in %d pages, want none", c.Bytes(), c.Pages())
	}
	page := int64(layers * 2 * PageSize * kvDim * 2)
	fill(t, c, 10)
	if c.Pages() != 1 || c.Bytes() != page {
		t.Fatalf("10 positions: %d pages, %d bytes; want 1, %d", c.Pages(), c.Bytes(), page)
	}
	fill(t, c, 250) // crosses into the second page
	if c.Pages() != 2 || c.Bytes() != 2*page {
		t.Fatalf("260 positions: %d pages, %d bytes; want 2, %d", c.Pages(), c.Bytes(), 2*page)
	}
	fill(t, c, 340) // fills the short last page exactly
	last := int64(layers * 2 * (size - 2*PageSize) * kvDim * 2)
	if c.Pages() != 3 || c.Bytes() != 2*page+last {
		t.Fatalf("600 positions: %d pages, %d bytes; want 3, %d", c.Pages(), c.Bytes(), 2*page+last)
	}
	check(t, c, 0, size)
	if err := c.Reserve(1); !errors.Is(err, ErrFull) {
		t.Fatalf("reserve past the end: %v, want ErrFull", err)
	}
	before := c.Bytes()
	c.Truncate(5)
	if c.Bytes() != before || c.Len() != 5 {
		t.Fatalf("Truncate(5): %d bytes, length %d; want %d bytes kept, length 5", c.Bytes(), c.Len(), before)
	}
	fill(t, c, 300)
	check(t, c, 0, 305)
	if c.Bytes() != before {
		t.Errorf("refilling truncated pages allocated: %d bytes, want %d", c.Bytes(), before)
	}
	c.Release()
	if c.Bytes() != 0 || c.Len() != 0 || c.Pages() != 0 {
		t.Fatalf("after Release: %d bytes, length %d, %d pages", c.Bytes(), c.Len(), c.Pages())
	}
	fill(t, c, 3)
	check(t, c, 0, 3)
}

func TestPageLayout(t *testing.T) {
	c, _ := New(2, 4, 300)
	fill(t, c, 260)
	keys, values, stride := c.Page(1, 1)
	if stride != 300-PageSize || len(keys) != stride*4 || len(values) != stride*4 {
		t.Fatalf("page 1: stride %d, %d keys, %d values", stride, len(keys), len(values))
	}
	// Position 258 is page 1's position 2: keys transposed, values by row.
	if got, want := ToFloat32(keys[3*stride+2]), code(1, 258, 3); got != want {
		t.Errorf("transposed key: %v, want %v", got, want)
	}
	if got, want := ToFloat32(values[2*4+3]), -code(1, 258, 3); got != want {
		t.Errorf("value row: %v, want %v", got, want)
	}
}

func TestCopyPrefix(t *testing.T) {
	src, _ := New(2, 8, 700)
	fill(t, src, 600)
	for _, tc := range []struct {
		name     string
		size, n  int
		wantPage int
	}{
		{"same size, inside the first page", 700, 100, 1},
		{"same size, across pages", 700, 300, 2},
		{"smaller cache with a short last page", 320, 300, 2},
		{"larger cache", 2000, 600, 3},
		{"nothing", 700, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst, _ := New(2, 8, tc.size)
			fill(t, dst, 5) // replaced by the copy
			if err := dst.CopyPrefix(src, tc.n); err != nil {
				t.Fatal(err)
			}
			if dst.Len() != tc.n || dst.CommonPrefix(src.Tokens()) != tc.n {
				t.Fatalf("length %d, common prefix %d; want %d", dst.Len(), dst.CommonPrefix(src.Tokens()), tc.n)
			}
			if dst.Pages() < tc.wantPage {
				t.Fatalf("%d pages, want at least %d", dst.Pages(), tc.wantPage)
			}
			check(t, dst, 0, tc.n)
			fill(t, dst, min(50, tc.size-tc.n))
			check(t, dst, 0, dst.Len())
			check(t, src, 0, 600) // the source is untouched
		})
	}
	dst, _ := New(2, 8, 100)
	fill(t, dst, 7)
	if err := dst.CopyPrefix(src, 200); !errors.Is(err, ErrFull) {
		t.Errorf("200 positions into 100: %v, want ErrFull", err)
	}
	if err := dst.CopyPrefix(src, 601); !errors.Is(err, ErrMismatch) {
		t.Errorf("601 positions from 600: %v, want ErrMismatch", err)
	}
	other, _ := New(3, 8, 100)
	if err := dst.CopyPrefix(other, 0); !errors.Is(err, ErrMismatch) {
		t.Errorf("3 layers into 2: %v, want ErrMismatch", err)
	}
	if dst.Len() != 7 {
		t.Fatalf("failed copies changed the cache: length %d, want 7", dst.Len())
	}
	check(t, dst, 0, 7)
	if err := dst.CopyPrefix(dst, 4); err != nil || dst.Len() != 4 {
		t.Errorf("copy from itself: %v, length %d", err, dst.Len())
	}
}

// TestCopyPrefixCopiesOnlyUsedPositions checks that a last page less than
// half used is copied position by position: what the destination held
// past the prefix stays, in every layer, keys and values alike; fuller
// pages, copied whole, still hold the prefix.
func TestCopyPrefixCopiesOnlyUsedPositions(t *testing.T) {
	const layers, kvDim = 3, 8
	src, _ := New(layers, kvDim, 700)
	fill(t, src, 600)
	const sentinel = 1.5 // not a value code gives a value (they are negative)
	for _, tc := range []struct {
		name    string
		size, n int
		kept    bool // what dst held past n stays
	}{
		{"last page less than half used", 700, 300, true},
		{"a few positions of the first page", 700, 3, true},
		{"short last page less than half used", 360, 300, true},
		{"different strides", 320, 300, true},
		{"last page half used", 700, 384, false},
		{"full pages", 700, 512, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst, _ := New(layers, kvDim, tc.size)
			end := min(tc.size, (tc.n+PageSize-1)/PageSize*PageSize)
			if err := dst.Reserve(end); err != nil {
				t.Fatal(err)
			}
			marks := make([]float32, kvDim)
			for d := range marks {
				marks[d] = sentinel
			}
			for p := range end {
				for l := range layers {
					dst.Put(l, p, marks, marks)
				}
			}
			if err := dst.CopyPrefix(src, tc.n); err != nil {
				t.Fatal(err)
			}
			check(t, dst, 0, tc.n)
			if !tc.kept {
				return
			}
			key := make([]uint16, kvDim)
			for p := tc.n; p < end; p++ {
				for l := range layers {
					dst.Key(l, p, key)
					for d, v := range dst.Value(l, p) {
						if ToFloat32(key[d]) != sentinel || ToFloat32(v) != sentinel {
							t.Fatalf("layer %d position %d (past the prefix of %d) element %d: key %v, value %v, want the %v it held",
								l, p, tc.n, d, ToFloat32(key[d]), ToFloat32(v), sentinel)
						}
					}
				}
			}
		})
	}
}

// BenchmarkCopyPrefix copies prefixes that end early, midway and late in
// their last page, with Qwen2.5-0.5B's cache shape: 24 layers, 2 KV heads
// of 64. The bytes per second count the prefix's keys and values.
func BenchmarkCopyPrefix(b *testing.B) {
	const layers, kvDim = 24, 128
	for _, n := range []int{260, 384, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src, _ := New(layers, kvDim, 4096)
			if err := src.Reserve(n); err != nil {
				b.Fatal(err)
			}
			if err := src.Commit(make([]int, n)...); err != nil {
				b.Fatal(err)
			}
			dst, _ := New(layers, kvDim, 4096)
			b.SetBytes(int64(layers * 2 * n * kvDim * 2))
			for b.Loop() {
				if err := dst.CopyPrefix(src, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
