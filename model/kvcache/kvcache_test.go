package kvcache

import (
	"errors"
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
	if err := c.Room(0); err != nil {
		t.Errorf("Room(0) on a full cache: %v", err)
	}
	if got := c.Len(); got != 3 {
		t.Errorf("Len after a refused commit: got %d, want 3", got)
	}
	if got := ToFloat32(c.Keys(1, 3)[4*2+3]); got != ToFloat32(FromFloat32(0.1)) || got == 0.1 {
		t.Errorf("stored key: got %v, want 0.1 rounded to F16", got)
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
