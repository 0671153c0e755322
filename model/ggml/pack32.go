package ggml

import "encoding/binary"

// Packed layouts of the 32-element block types Q8_0, Q4_0 and Q5_0 (the
// portable half: packing and unpacking; the kernel is pack32_amd64.s, and
// pack32_test.go has a plain-Go one that reads the layout as it does).
//
// Sixteen consecutive rows are interleaved block by block, so that the 16
// int32 lanes of a 512-bit vector hold the 16 rows: block b of a group is
// 16 F16 scales (32 bytes, row r's at 2r), then the rows' quants arranged
// so that one 64-byte load gives every row 4 bytes (row r's at 4r):
//
//	Q8_0 (544 bytes): vector k (k = 0..7) holds quants 4k..4k+3, each XOR
//	0x80, i.e. w+128 as an unsigned byte.
//	Q4_0 (288 bytes): vector m (m = 0..3) holds the bytes 4m..4m+3 of the
//	nibble array unchanged: their low nibbles are elements 4m..4m+3, their
//	high nibbles elements 16+4m..16+4m+3 (nibble n means w = n-8).
//	Q5_0 (352 bytes): one vector of the rows' high bits, permuted, then the
//	nibble vectors as for Q4_0. Byte i of row r's permuted dword has, in
//	bit c, the high bit of element 4c+i (elements 4m+i and 16+4m+i are
//	c = m and c = 4+m), so the high bits of one nibble vector's 64 levels
//	sit in one bit column and a shift brings them to bit 4 (w = n|h<<4-16).
//
// Each layout has the size of the original group, and the integer part of
// a product stays exact (unsigned levels times signed activations; the
// bias of the unsigned levels, 128, 8 or 16 times the activation block's
// quant sum, comes off once per block), so results equal the row kernels
// bit for bit.

// pk32Group is how many rows the packed 32-element layouts interleave.
const pk32Group = 16

// pk32Layout describes one type's packed block.
type pk32Layout struct{ typ Type }

var (
	pk32Q8_0 = pk32Layout{Q8_0}
	pk32Q4_0 = pk32Layout{Q4_0}
	pk32Q5_0 = pk32Layout{Q5_0}
)

// blockBytes is the size of a group's packed block: the group's blocks in
// file layout (544, 288 and 352 bytes).
func (l *pk32Layout) blockBytes() int { return pk32Group * l.typ.TypeSize() }

// pk32SpreadTab[j][v] is pk32Spread of byte j of qh being v;
// pk32GatherTab[i][v] is pk32Gather of byte i of the packed dword being v.
var pk32SpreadTab, pk32GatherTab [4][256]uint32

func init() {
	for j := 0; j < 4; j++ {
		for v := 0; v < 256; v++ {
			for bit := 0; bit < 8; bit++ {
				if v>>bit&1 == 0 {
					continue
				}
				e := 8*j + bit // element e: c = e/4, i = e%4
				pk32SpreadTab[j][v] |= 1 << (8*(e%4) + e/4)
				pk32GatherTab[j][v] |= 1 << (4*bit + j) // byte j = i, bit = c
			}
		}
	}
}

// pk32Spread maps a Q5_0 block's qh (bit e: high bit of element e) to the
// packed dword (bit 8i+c: high bit of element 4c+i).
func pk32Spread(qh uint32) uint32 {
	return pk32SpreadTab[0][qh&255] | pk32SpreadTab[1][qh>>8&255] | pk32SpreadTab[2][qh>>16&255] | pk32SpreadTab[3][qh>>24]
}

// pk32Gather is the inverse of pk32Spread.
func pk32Gather(p uint32) uint32 {
	return pk32GatherTab[0][p&255] | pk32GatherTab[1][p>>8&255] | pk32GatherTab[2][p>>16&255] | pk32GatherTab[3][p>>24]
}

// pack rewrites one group of 16 rows (rs bytes each, nb blocks) from file
// layout in src to the packed layout in dst.
func (l *pk32Layout) pack(dst, src []byte, rs, nb int) {
	le := binary.LittleEndian
	src = src[:pk32Group*rs]
	for b := 0; b < nb; b++ {
		switch l.typ {
		case Q8_0:
			o := (*[544]byte)(dst[544*b:])
			for r := 0; r < pk32Group; r++ {
				blk := (*[34]byte)(src[r*rs+34*b:])
				o[2*r], o[2*r+1] = blk[0], blk[1]
				for k := 0; k < 8; k++ {
					le.PutUint32(o[32+64*k+4*r:], le.Uint32(blk[2+4*k:])^0x80808080)
				}
			}
		case Q4_0:
			o := (*[288]byte)(dst[288*b:])
			for r := 0; r < pk32Group; r++ {
				blk := (*[18]byte)(src[r*rs+18*b:])
				o[2*r], o[2*r+1] = blk[0], blk[1]
				for m := 0; m < 4; m++ {
					le.PutUint32(o[32+64*m+4*r:], le.Uint32(blk[2+4*m:]))
				}
			}
		case Q5_0:
			o := (*[352]byte)(dst[352*b:])
			for r := 0; r < pk32Group; r++ {
				blk := (*[22]byte)(src[r*rs+22*b:])
				o[2*r], o[2*r+1] = blk[0], blk[1]
				le.PutUint32(o[32+4*r:], pk32Spread(le.Uint32(blk[2:])))
				for m := 0; m < 4; m++ {
					le.PutUint32(o[96+64*m+4*r:], le.Uint32(blk[6+4*m:]))
				}
			}
		}
	}
}

// row writes row i of the packed group src back in file layout to dst.
func (l *pk32Layout) row(dst, src []byte, rs, nb, i int) {
	le := binary.LittleEndian
	i &= pk32Group - 1
	for b := 0; b < nb; b++ {
		switch l.typ {
		case Q8_0:
			o, blk := (*[544]byte)(src[544*b:]), (*[34]byte)(dst[34*b:])
			blk[0], blk[1] = o[2*i], o[2*i+1]
			for k := 0; k < 8; k++ {
				le.PutUint32(blk[2+4*k:], le.Uint32(o[32+64*k+4*i:])^0x80808080)
			}
		case Q4_0:
			o, blk := (*[288]byte)(src[288*b:]), (*[18]byte)(dst[18*b:])
			blk[0], blk[1] = o[2*i], o[2*i+1]
			for m := 0; m < 4; m++ {
				le.PutUint32(blk[2+4*m:], le.Uint32(o[32+64*m+4*i:]))
			}
		case Q5_0:
			o, blk := (*[352]byte)(src[352*b:]), (*[22]byte)(dst[22*b:])
			blk[0], blk[1] = o[2*i], o[2*i+1]
			le.PutUint32(blk[2:], pk32Gather(le.Uint32(o[32+4*i:])))
			for m := 0; m < 4; m++ {
				le.PutUint32(blk[6+4*m:], le.Uint32(o[96+64*m+4*i:]))
			}
		}
	}
}
