package ggml

import (
	"encoding/binary"
	"unsafe"
)

// Portable parts of the matrix kernels for the 32-element block types
// (mat32_amd64.go): the scratch they share between calls and the repacking
// of Q8_0 activations into 16-lane groups.

// m32Lanes is how many activations one pass of the activation-lane kernel
// multiplies at once (one int32 lane each in a 512-bit register).
const m32Lanes = 16

// m32Scratch is per-call working memory: repacked activations, their
// scales, the per-block weight sums and unpacked weight rows. Calls take
// one from m32Free and put it back, so steady-state products do not
// allocate.
type m32Scratch struct {
	xr  []byte    // repacked activation quants, 64-byte aligned
	xd  []float32 // activation scales per group, block and lane
	sw  []int32   // -128·Σw per row and block
	wq  []byte    // weight rows rewritten in Q8_0 layout
	raw []byte    // backing array of xr
}

// m32Free keeps the scratch of finished calls.
var m32Free = newFreeList[m32Scratch]()

// alignedBytes returns n bytes of s.raw starting at a 64-byte boundary,
// growing s.raw when needed.
func (s *m32Scratch) alignedBytes(n int) []byte {
	if cap(s.raw) < n+64 {
		s.raw = make([]byte, n+64)
	}
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(s.raw))) & 63)
	return s.raw[off : off+n]
}

// m32Repack lays out the Q8_0 activations xs (nb blocks each) for the
// activation-lane kernel: for group g of 16 activations and block b, xr
// holds eight 64-byte vectors, vector k carrying bytes 4k..4k+3 of the
// block of each activation (lane = activation), each byte plus 128; xd
// holds the 16 scales. Lanes past len(xs) hold zero activations.
func m32Repack(xr []byte, xd []float32, xs []*Activation, nb int) {
	groups := (len(xs) + m32Lanes - 1) / m32Lanes
	xr = xr[:groups*nb*512]
	xd = xd[:groups*nb*m32Lanes]
	le := binary.LittleEndian
	for g := 0; g < groups; g++ {
		base := g * nb
		for lane := 0; lane < m32Lanes; lane++ {
			i := g*m32Lanes + lane
			if i >= len(xs) {
				for b := 0; b < nb; b++ {
					dst := xr[(base+b)*512:]
					for k := 0; k < 8; k++ {
						le.PutUint32(dst[k*64+lane*4:], 0x80808080)
					}
					xd[(base+b)*m32Lanes+lane] = 0
				}
				continue
			}
			a := xs[i]
			qs := a.qs[:32*nb]
			ds := a.d[:nb]
			for b := 0; b < nb; b++ {
				src := (*[32]byte)(unsafe.Pointer(&qs[32*b]))
				dst := (*[512]byte)(xr[(base+b)*512:])
				for k := 0; k < 8; k++ {
					le.PutUint32(dst[k*64+lane*4:], le.Uint32(src[4*k:])^0x80808080)
				}
				xd[(base+b)*m32Lanes+lane] = ds[b]
			}
		}
	}
}
