//go:build !noasm && amd64

package ggml

import "encoding/binary"

// Packed layouts of the K-quants Q4_K, Q5_K and Q6_K (the portable half:
// packing and unpacking; the kernels are in packk_amd64.go).
//
// Sixteen consecutive rows are interleaved super-block by super-block: the
// 16 int32 lanes of a 512-bit vector hold the 16 rows, and one vector of
// weights holds, for each row, 4 levels that belong to the same one of
// ggml's eight lanes (element k of a super-block goes to lane k%8) and to
// the same sub-block scale, at bytes 4r..4r+3. VPDPBUSD (Q4_K) or
// VPMADDUBSW+VPDPWSSD (Q6_K) then sums them with 4 activation bytes
// broadcast to every row, and the kernel multiplies that by the sub-block
// scale into one accumulator per lane: the integer lane sums are exact in
// any order, and the float operations are those of dot.go per row, done
// for 16 rows at once.
//
// Q4_K, one group's super-block (16·144 = 2304 bytes):
//
//	   0  d: 16 F16, row r's at 2r
//	  32  dmin: 16 F16
//	  64  L: 128 bytes; low nibble of byte k: low 4 bits of the scale of
//	      sub-block k/16 of row k%16; high nibble: low 4 bits of the min of
//	      sub-block 2(k/32)+k%2 of row (k%32)/2 (so that the mins of a
//	      sub-block pair widen to word pairs)
//	 192  H: 64 bytes; byte k holds the high 2 bits of scale k (bits 0-1),
//	      min k (2-3), scale k+64 (4-5) and min k+64 (6-7)
//	 256  quants: 32 vectors of 64 bytes, vector 8j+l (j = 0..3 the pair of
//	      sub-blocks 2j, 2j+1; l the lane): byte 4r+e is byte 32j+l+8e of
//	      row r's quants, whose low nibble is element 64j+l+8e (sub-block
//	      2j) and high nibble element 64j+32+l+8e (sub-block 2j+1)
//
// Q5_K, one group's super-block (16·176 = 2816 bytes): the Q4_K layout
// (2304 bytes), then 8 vectors of the levels' fifth bits: bits 2k and
// 2k+1 of byte 4r+e of vector hv are the fifth bits of the low and high
// nibble of byte 4r+e of quant vector 4hv+k.
//
// Q6_K, one group's super-block (16·210 = 3360 bytes):
//
//	   0  d: 16 F16
//	  32  scales: 256 int8, byte 32u+2r+h is scale 2u+h of row r
//	  288 8 parts of 384 bytes, part u (sub-blocks 2u, 2u+1): the level
//	      (0..63) of row r, lane l, e = 0..3 is element 16(2u+e/2)+l+8(e%2)
//	      of the super-block; its low 4 bits are in vector c = l/2 (64
//	      bytes at part+64c; byte 4r+e, low nibble for even l, high for
//	      odd) and its high 2 bits in vector h = l/4 (at part+256+64h; byte
//	      4r+e, bits 2(l%4)..2(l%4)+1)
//
// Each layout has the size of the original group, so group g occupies the
// bytes the group's rows had.

// pkKGroup is how many rows the packed K-quant layouts interleave.
const pkKGroup = 16

// Q4_K: the byte offsets inside one group's packed super-block.
const (
	pkQ4KBlock  = 144
	pkQ4KPacked = pkKGroup * pkQ4KBlock
	pkQ4KD      = 0
	pkQ4KDmin   = 32
	pkQ4KL      = 64
	pkQ4KH      = 192
	pkQ4KQuants = 256
)

// Q5_K: the Q4_K layout, followed by the levels' fifth bits.
const (
	pkQ5KBlock  = 176
	pkQ5KPacked = pkKGroup * pkQ5KBlock
	pkQ5KHigh   = pkQ4KPacked
)

// Q6_K: the byte offsets inside one group's packed super-block.
const (
	pkQ6KBlock  = 210
	pkQ6KPacked = pkKGroup * pkQ6KBlock
	pkQ6KD      = 0
	pkQ6KScales = 32
	pkQ6KParts  = 288
	pkQ6KPart   = 384
)

// pkQ4KScaleIndex and pkQ4KMinIndex place row r's sub-block s scale and
// min among the 128 of the group's super-block.
func pkQ4KScaleIndex(r, s int) int { return 16*s + r }
func pkQ4KMinIndex(r, s int) int   { return 32*(s>>1) + 2*r + s&1 }

// packQ4K packs one group of 16 Q4_K rows (the packing's pack function).
func packQ4K(dst, src []byte, rs, nb int) { packQ45K(dst, src, rs, nb, false) }

// packQ5K packs one group of 16 Q5_K rows.
func packQ5K(dst, src []byte, rs, nb int) { packQ45K(dst, src, rs, nb, true) }

// rowQ4K copies row i of a packed Q4_K group back into file layout.
func rowQ4K(dst, src []byte, rs, nb, i int) { rowQ45K(dst, src, nb, i, false) }

// rowQ5K copies row i of a packed Q5_K group back into file layout.
func rowQ5K(dst, src []byte, rs, nb, i int) { rowQ45K(dst, src, nb, i, true) }

// q45KSizes returns the file block size, the packed group block size and
// the offset of the quants in a file block of Q4_K or (q5) Q5_K.
func q45KSizes(q5 bool) (block, packed, quants int) {
	if q5 {
		return pkQ5KBlock, pkQ5KPacked, 48
	}
	return pkQ4KBlock, pkQ4KPacked, 16
}

func packQ45K(dst, src []byte, rs, nb int, q5 bool) {
	block, packed, quants := q45KSizes(q5)
	var sc, m [128]uint8
	for b := 0; b < nb; b++ {
		out := dst[b*packed : (b+1)*packed]
		if q5 {
			clear(out[pkQ5KHigh:])
		}
		for r := 0; r < pkKGroup; r++ {
			blk := src[r*rs+b*block : r*rs+(b+1)*block]
			out[pkQ4KD+2*r], out[pkQ4KD+2*r+1] = blk[0], blk[1]
			out[pkQ4KDmin+2*r], out[pkQ4KDmin+2*r+1] = blk[2], blk[3]
			for s := 0; s < 8; s++ {
				sc[pkQ4KScaleIndex(r, s)], m[pkQ4KMinIndex(r, s)] = scaleMinK4(s, blk[4:16])
			}
			for j := 0; j < 4; j++ {
				// bytes l+8e of the 32 (e = 0..3) to the dword of lane l
				q := blk[quants+32*j : quants+32*j+32]
				x0, x1 := binary.LittleEndian.Uint64(q), binary.LittleEndian.Uint64(q[8:])
				x2, x3 := binary.LittleEndian.Uint64(q[16:]), binary.LittleEndian.Uint64(q[24:])
				for l := 0; l < 8; l++ {
					sh := uint(8 * l)
					v := uint32(byte(x0>>sh)) | uint32(byte(x1>>sh))<<8 | uint32(byte(x2>>sh))<<16 | uint32(byte(x3>>sh))<<24
					binary.LittleEndian.PutUint32(out[pkQ4KQuants+64*(8*j+l)+4*r:], v)
				}
			}
			if q5 {
				qh := blk[16:48]
				for j := 0; j < 4; j++ {
					for l := 0; l < 8; l++ {
						v := 8*j + l
						hv := out[pkQ5KHigh+64*(v/4)+4*r:]
						for e := 0; e < 4; e++ {
							hv[e] |= (qh[l+8*e] >> (2 * j) & 3) << (2 * (v % 4))
						}
					}
				}
			}
		}
		for k := 0; k < 128; k++ {
			out[pkQ4KL+k] = sc[k]&15 | (m[k]&15)<<4
		}
		for k := 0; k < 64; k++ {
			out[pkQ4KH+k] = sc[k]>>4 | (m[k]>>4)<<2 | (sc[k+64]>>4)<<4 | (m[k+64]>>4)<<6
		}
	}
}

func rowQ45K(dst, src []byte, nb, i int, q5 bool) {
	block, packed, quants := q45KSizes(q5)
	for b := 0; b < nb; b++ {
		in := src[b*packed : (b+1)*packed]
		blk := dst[b*block : (b+1)*block]
		blk[0], blk[1] = in[pkQ4KD+2*i], in[pkQ4KD+2*i+1]
		blk[2], blk[3] = in[pkQ4KDmin+2*i], in[pkQ4KDmin+2*i+1]
		var sc, m [8]uint8
		for s := 0; s < 8; s++ {
			ks, km := pkQ4KScaleIndex(i, s), pkQ4KMinIndex(i, s)
			sc[s] = in[pkQ4KL+ks]&15 | (in[pkQ4KH+ks%64]>>(4*(ks/64))&3)<<4
			m[s] = in[pkQ4KL+km]>>4 | (in[pkQ4KH+km%64]>>(2+4*(km/64))&3)<<4
		}
		// the inverse of scaleMinK4
		for j := 0; j < 4; j++ {
			blk[4+j] = sc[j] | (sc[j+4]>>4)<<6
			blk[8+j] = m[j] | (m[j+4]>>4)<<6
			blk[12+j] = sc[j+4]&15 | (m[j+4]&15)<<4
		}
		if q5 {
			clear(blk[16:48])
		}
		for j := 0; j < 4; j++ {
			for l := 0; l < 8; l++ {
				v := 8*j + l
				q := in[pkQ4KQuants+64*v+4*i:]
				for e := 0; e < 4; e++ {
					blk[quants+32*j+l+8*e] = q[e]
				}
				if q5 {
					h := in[pkQ5KHigh+64*(v/4)+4*i:]
					for e := 0; e < 4; e++ {
						blk[16+l+8*e] |= (h[e] >> (2 * (v % 4)) & 3) << (2 * j)
					}
				}
			}
		}
	}
}

// q6Levels writes the 256 levels (0..63) of a Q6_K super-block in file
// layout in element order, as dotQ6_K reads them.
func q6Levels(lv *[QK_K]byte, b *[pkQ6KBlock]byte) {
	for n := 0; n < 2; n++ {
		for j := 0; j < 32; j++ {
			ql0, ql1, qh := b[64*n+j], b[64*n+32+j], b[128+32*n+j]
			lv[128*n+j] = ql0&15 | (qh&3)<<4
			lv[128*n+32+j] = ql1&15 | (qh>>2&3)<<4
			lv[128*n+64+j] = ql0>>4 | (qh>>4&3)<<4
			lv[128*n+96+j] = ql1>>4 | (qh>>6&3)<<4
		}
	}
}

// setQ6Levels is the inverse of q6Levels (levels above 63 lose their
// high bits).
func setQ6Levels(b *[pkQ6KBlock]byte, lv *[QK_K]byte) {
	for n := 0; n < 2; n++ {
		for j := 0; j < 32; j++ {
			l0, l1, l2, l3 := lv[128*n+j], lv[128*n+32+j], lv[128*n+64+j], lv[128*n+96+j]
			b[64*n+j] = l0&15 | l2<<4
			b[64*n+32+j] = l1&15 | l3<<4
			b[128+32*n+j] = l0>>4 | (l1>>4)<<2 | (l2>>4)<<4 | l3>>4<<6
		}
	}
}

// The element of part u, lane l, byte e of a packed Q6_K vector is
// 16(2u+e/2)+l+8(e%2) = 32u+l+8e, the same as Q4_K's sub-block u.

// packQ6K packs one group of 16 Q6_K rows.
func packQ6K(dst, src []byte, rs, nb int) {
	var lv [QK_K]byte
	for b := 0; b < nb; b++ {
		out := (*[pkQ6KPacked]byte)(dst[b*pkQ6KPacked:])
		for r := 0; r < pkKGroup; r++ {
			blk := (*[pkQ6KBlock]byte)(src[r*rs+b*pkQ6KBlock:])
			out[pkQ6KD+2*r], out[pkQ6KD+2*r+1] = blk[208], blk[209]
			for s := 0; s < 16; s++ {
				out[pkQ6KScales+32*(s/2)+2*r+s%2] = blk[192+s]
			}
			q6Levels(&lv, blk)
			for u := 0; u < 8; u++ {
				part := (*[pkQ6KPart]byte)(out[pkQ6KParts+pkQ6KPart*u:])
				x := (*[32]byte)(lv[32*u:])
				for e := 0; e < 4; e++ {
					y := (*[8]byte)(x[8*e:])
					for c := 0; c < 4; c++ {
						part[64*c+4*r+e] = y[2*c]&15 | y[2*c+1]<<4
					}
					for h := 0; h < 2; h++ {
						z := (*[4]byte)(y[4*h:])
						part[256+64*h+4*r+e] = z[0]>>4 | (z[1]>>4)<<2 | (z[2]>>4)<<4 | (z[3]>>4)<<6
					}
				}
			}
		}
	}
}

// rowQ6K copies row i of a packed Q6_K group back into file layout.
func rowQ6K(dst, src []byte, rs, nb, i int) {
	var lv [QK_K]byte
	for b := 0; b < nb; b++ {
		in := (*[pkQ6KPacked]byte)(src[b*pkQ6KPacked:])
		blk := (*[pkQ6KBlock]byte)(dst[b*pkQ6KBlock:])
		blk[208], blk[209] = in[pkQ6KD+2*i], in[pkQ6KD+2*i+1]
		for s := 0; s < 16; s++ {
			blk[192+s] = in[pkQ6KScales+32*(s/2)+2*i+s%2]
		}
		for u := 0; u < 8; u++ {
			part := (*[pkQ6KPart]byte)(in[pkQ6KParts+pkQ6KPart*u:])
			x := (*[32]byte)(lv[32*u:])
			for e := 0; e < 4; e++ {
				y := (*[8]byte)(x[8*e:])
				for c := 0; c < 4; c++ {
					q := part[64*c+4*i+e]
					y[2*c], y[2*c+1] = q&15, q>>4
				}
				for h := 0; h < 2; h++ {
					q := part[256+64*h+4*i+e]
					z := (*[4]byte)(y[4*h:])
					z[0] |= (q & 3) << 4
					z[1] |= (q >> 2 & 3) << 4
					z[2] |= (q >> 4 & 3) << 4
					z[3] |= (q >> 6) << 4
				}
			}
		}
		setQ6Levels(blk, &lv)
	}
}
