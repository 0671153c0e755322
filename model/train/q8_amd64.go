//go:build !noasm

package train

import (
	"github.com/chatloop/chatloop/model/ggml"
	"golang.org/x/sys/cpu"
)

// haveQ8AVX512 selects the AVX-512 Q8_0 decoder and column quantizer
// (with VBMI's byte permutation); tests switch it off to compare them
// with the Go code.
var haveQ8AVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VBMI

//go:noescape
func quantColsQ8AVX512(tile *float32, rowBytes int, dst *byte, dstStride int, d *[16]float32)

//go:noescape
func decodeQ8AVX512(src *byte, nb int, dst *float32)

// quantCols16 quantizes columns [c0, c0+16) of a 32-row tile cols wide
// into the Q8_0 blocks at dst[(c0+i)*stride:] as quantizeColumnsQ8 does,
// and says whether it did (else the caller does it).
func quantCols16(tile []float32, cols, c0 int, dst []byte, stride int) bool {
	if !haveQ8AVX512 || c0+16 > cols || len(tile) < 32*cols || len(dst) < (c0+15)*stride+q8Block {
		return false
	}
	var d [16]float32
	quantColsQ8AVX512(&tile[c0], 4*cols, &dst[c0*stride+2], stride, &d)
	for i, v := range d {
		h := ggml.FP32ToFP16(v)
		blk := dst[(c0+i)*stride:]
		blk[0], blk[1] = byte(h), byte(h>>8)
	}
	return true
}

// decodeQ8 decodes the Q8_0 blocks of src into dst as ggml.Dequantize
// does, and says whether it did.
func decodeQ8(src []byte, dst []float32) bool {
	nb := len(src) / q8Block
	if !haveQ8AVX512 || nb == 0 || len(src) != nb*q8Block || len(dst) < 32*nb {
		return false
	}
	decodeQ8AVX512(&src[0], nb, &dst[0])
	return true
}
