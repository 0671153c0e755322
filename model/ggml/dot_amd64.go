//go:build !noasm && amd64

package ggml

//go:noescape
func blockSumsQ8AVX2(w *byte, stride int, q *int8, nb int, out *int32)

//go:noescape
func blockSumsQ4AVX2(w *byte, stride int, q *int8, nb int, bias int, out *int32)

//go:noescape
func blockSumsQ5AVX2(w *byte, stride int, q *int8, nb int, bias int, out *int32)

//go:noescape
func lanesQ4KAVX2(qs *byte, q8 *int8, scales *int32, lanes *int32)

//go:noescape
func lanesI8x32AVX2(w *int8, q8 *int8, scales *int32, n int, lanes *int32)

//go:noescape
func lanesQ5KAVX2(ql *byte, qh *byte, q8 *int8, scales *int32, lanes *int32)

//go:noescape
func lanesQ6KAVX2(b *byte, q8 *int8, scales *int32, lanes *int32)

//go:noescape
func accumD(w *byte, stride int, yd *float32, sums *int32, n int, sumf float32, order int) float32

//go:noescape
func accumDM(w *byte, stride int, yd, ys *float32, sums *int32, n int, sumf float32) float32

// chunkBlocks is how many 32-element blocks one assembly call sums.
const chunkBlocks = 64

func dotQ8_0AVX2(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:34*nb]
	qs := a.qs[:32*nb]
	ds := a.d[:nb]
	var sums [chunkBlocks]int32
	var sumf float32
	for b0 := 0; b0 < nb; b0 += chunkBlocks {
		n := min(chunkBlocks, nb-b0)
		blockSumsQ8AVX2(&row[34*b0+2], 34, &qs[32*b0], n, &sums[0])
		sumf = accumD(&row[34*b0], 34, &ds[b0], &sums[0], n, sumf, 0)
	}
	return sumf
}

func dotQ4_0AVX2(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:18*nb]
	qs := a.qs[:32*nb]
	ds := a.d[:nb]
	var sums [chunkBlocks]int32
	var sumf float32
	for b0 := 0; b0 < nb; b0 += chunkBlocks {
		n := min(chunkBlocks, nb-b0)
		blockSumsQ4AVX2(&row[18*b0+2], 18, &qs[32*b0], n, 8, &sums[0])
		sumf = accumD(&row[18*b0], 18, &ds[b0], &sums[0], n, sumf, 1)
	}
	return sumf
}

func dotQ4_1AVX2(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:20*nb]
	qs := a.qs[:32*nb]
	ds, ss := a.d[:nb], a.s[:nb]
	var sums [chunkBlocks]int32
	var sumf float32
	for b0 := 0; b0 < nb; b0 += chunkBlocks {
		n := min(chunkBlocks, nb-b0)
		blockSumsQ4AVX2(&row[20*b0+4], 20, &qs[32*b0], n, 0, &sums[0])
		sumf = accumDM(&row[20*b0], 20, &ds[b0], &ss[b0], &sums[0], n, sumf)
	}
	return sumf
}

func dotQ5_0AVX2(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:22*nb]
	qs := a.qs[:32*nb]
	ds := a.d[:nb]
	var sums [chunkBlocks]int32
	var sumf float32
	for b0 := 0; b0 < nb; b0 += chunkBlocks {
		n := min(chunkBlocks, nb-b0)
		blockSumsQ5AVX2(&row[22*b0+2], 22, &qs[32*b0], n, 16, &sums[0])
		sumf = accumD(&row[22*b0], 22, &ds[b0], &sums[0], n, sumf, 0)
	}
	return sumf
}

func dotQ5_1AVX2(row []byte, a *Activation) float32 {
	nb := a.n / 32
	row = row[:24*nb]
	qs := a.qs[:32*nb]
	ds, ss := a.d[:nb], a.s[:nb]
	var sums [chunkBlocks]int32
	var sumf float32
	for b0 := 0; b0 < nb; b0 += chunkBlocks {
		n := min(chunkBlocks, nb-b0)
		blockSumsQ5AVX2(&row[24*b0+4], 24, &qs[32*b0], n, 0, &sums[0])
		sumf = accumDM(&row[24*b0], 24, &ds[b0], &ss[b0], &sums[0], n, sumf)
	}
	return sumf
}

func dotQ4_KAVX2(row []byte, a *Activation) float32 {
	nb := a.n / QK_K
	row = row[:144*nb]
	var sums [8]float32
	var sumf float32
	var scales [8]int32
	var lanes [8]int32
	for i := 0; i < nb; i++ {
		b := (*[144]byte)(row[144*i:])
		q8 := (*[QK_K]int8)(a.qs[QK_K*i:])
		bs := (*[16]int16)(a.bsums[16*i:])
		sc := b[4:16]
		var summ int32
		for j := 0; j < 8; j++ {
			s, m := scaleMinK4(j, sc)
			scales[j] = int32(s)
			summ += (int32(bs[2*j]) + int32(bs[2*j+1])) * int32(m)
		}
		lanesQ4KAVX2(&b[16], &q8[0], &scales[0], &lanes[0])
		d := float32(half(b[:]) * a.d[i])
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(lanes[l]))
		}
		dmin := float32(half(b[2:]) * a.d[i])
		sumf -= float32(dmin * float32(summ))
	}
	return finishK8(sumf, &sums)
}

func dotQ5_KAVX2(row []byte, a *Activation) float32 {
	nb := a.n / QK_K
	row = row[:176*nb]
	var sums [8]float32
	var sumf float32
	var scales [8]int32
	var lanes [8]int32
	for i := 0; i < nb; i++ {
		b := (*[176]byte)(row[176*i:])
		q8 := (*[QK_K]int8)(a.qs[QK_K*i:])
		bs := (*[16]int16)(a.bsums[16*i:])
		sc := b[4:16]
		var summ int32
		for j := 0; j < 8; j++ {
			s, m := scaleMinK4(j, sc)
			scales[j] = int32(s)
			summ += (int32(bs[2*j]) + int32(bs[2*j+1])) * int32(m)
		}
		lanesQ5KAVX2(&b[48], &b[16], &q8[0], &scales[0], &lanes[0])
		d := float32(half(b[:]) * a.d[i])
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(lanes[l]))
		}
		dmin := float32(half(b[2:]) * a.d[i])
		sumf -= float32(dmin * float32(summ))
	}
	return finishK8(sumf, &sums)
}

func dotQ6_KAVX2(row []byte, a *Activation) float32 {
	nb := a.n / QK_K
	row = row[:210*nb]
	var sums [8]float32
	var scales [16]int32
	var lanes [8]int32
	for i := 0; i < nb; i++ {
		b := (*[210]byte)(row[210*i:])
		q8 := (*[QK_K]int8)(a.qs[QK_K*i:])
		for j := 0; j < 16; j++ {
			scales[j] = int32(int8(b[192+j]))
		}
		lanesQ6KAVX2(&b[0], &q8[0], &scales[0], &lanes[0])
		d := float32(half(b[208:]) * a.d[i])
		for l := 0; l < 8; l++ {
			sums[l] += float32(d * float32(lanes[l]))
		}
	}
	return finishK8(0, &sums)
}
