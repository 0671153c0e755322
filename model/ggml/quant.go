package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantize converts src into type t with ggml's reference quantizers
// (quantize_row_*_ref, which is also what llama-quantize does without an
// importance matrix), so that the bytes equal ggml_quantize_chunk's.
// len(src) must be a whole number of t's blocks.
func Quantize(t Type, src []float32) ([]byte, error) {
	if !t.Known() {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	size, err := t.RowSize(int64(len(src)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSize, err)
	}
	q := typeInfos[t].quantize
	if q == nil {
		return nil, fmt.Errorf("%w: cannot quantize to %s", ErrUnsupported, t)
	}
	dst := make([]byte, size)
	q(src, dst)
	return dst, nil
}

func quantF32(x []float32, b []byte) {
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
}

func quantF16(x []float32, b []byte) {
	for i, v := range x {
		binary.LittleEndian.PutUint16(b[2*i:], FP32ToFP16(v))
	}
}

func quantBF16(x []float32, b []byte) {
	for i, v := range x {
		binary.LittleEndian.PutUint16(b[2*i:], FP32ToBF16(v))
	}
}

func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, FP32ToFP16(f)) }

// toInt8 converts like C's (int8_t)f on x86: truncate toward zero to 32
// bits, keep the low byte.
func toInt8(f float32) int8 { return int8(int32(f)) }

// roundAway is C's roundf: halves away from zero.
func roundAway(f float32) float32 { return float32(math.Round(float64(f))) }

// nearestInt is ggml's nearest_int: round half to even through the float32
// adder (valid for |f| < 2^22, like the original).
func nearestInt(f float32) int32 {
	v := float32(f) + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// absMaxSigned returns the value of largest magnitude (first one wins) and
// its magnitude.
func absMaxSigned(x []float32) (max, amax float32) {
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return max, amax
}

func quantQ4_0(x []float32, b []byte) {
	max, _ := absMaxSigned(x)
	d := max / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	for j := 0; j < 16; j++ {
		x0 := float32(x[j] * id)
		x1 := float32(x[16+j] * id)
		b[2+j] = q4clamp(toInt8(x0+8.5)) | q4clamp(toInt8(x1+8.5))<<4
	}
}

func q4clamp(v int8) byte {
	if v > 15 {
		v = 15
	}
	return byte(v)
}

func minMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

func quantQ4_1(x []float32, b []byte) {
	min, max := minMax(x)
	d := (max - min) / 15
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	putHalf(b[2:], min)
	for j := 0; j < 16; j++ {
		x0 := float32((x[j] - min) * id)
		x1 := float32((x[16+j] - min) * id)
		b[4+j] = q4clamp(toInt8(x0+0.5)) | q4clamp(toInt8(x1+0.5))<<4
	}
}

func quantQ5_0(x []float32, b []byte) {
	max, _ := absMaxSigned(x)
	d := max / -16
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	var qh uint32
	for j := 0; j < 16; j++ {
		x0 := float32(x[j] * id)
		x1 := float32(x[16+j] * id)
		xi0 := toInt8(x0 + 16.5)
		xi1 := toInt8(x1 + 16.5)
		if xi0 > 31 {
			xi0 = 31
		}
		if xi1 > 31 {
			xi1 = 31
		}
		u0, u1 := byte(xi0), byte(xi1)
		b[6+j] = u0&0x0f | (u1&0x0f)<<4
		qh |= uint32(u0&0x10) >> 4 << j
		qh |= uint32(u1&0x10) >> 4 << (j + 16)
	}
	binary.LittleEndian.PutUint32(b[2:], qh)
}

func quantQ5_1(x []float32, b []byte) {
	min, max := minMax(x)
	d := (max - min) / 31
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	putHalf(b[2:], min)
	var qh uint32
	for j := 0; j < 16; j++ {
		x0 := float32((x[j] - min) * id)
		x1 := float32((x[16+j] - min) * id)
		u0, u1 := byte(int32(x0+0.5)), byte(int32(x1+0.5))
		b[8+j] = u0&0x0f | (u1&0x0f)<<4
		qh |= uint32(u0&0x10) >> 4 << j
		qh |= uint32(u1&0x10) >> 4 << (j + 16)
	}
	binary.LittleEndian.PutUint32(b[4:], qh)
}

func quantQ8_0Ref(x []float32, b []byte) {
	var amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	for j := 0; j < 32; j++ {
		b[2+j] = byte(int8(int32(roundAway(x[j] * id))))
	}
}

func quantQ8_1Ref(x []float32, b []byte) {
	var amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(b, d)
	var sum int32
	for j := 0; j < 32; j++ {
		q := int8(int32(roundAway(x[j] * id)))
		b[4+j] = byte(q)
		sum += int32(q)
	}
	putHalf(b[2:], float32(sum)*d)
}

func quantQ8_KRef(x []float32, b []byte) {
	max, amax := absMaxSigned(x)
	if amax == 0 {
		clear(b)
		return
	}
	iscale := -127 / max
	for j := 0; j < QK_K; j++ {
		v := nearestInt(iscale * x[j])
		b[4+j] = byte(int8(min(127, v)))
	}
	for j := 0; j < QK_K/16; j++ {
		var sum int32
		for i := 0; i < 16; i++ {
			sum += int32(int8(b[4+16*j+i]))
		}
		binary.LittleEndian.PutUint16(b[4+QK_K+2*j:], uint16(int16(sum)))
	}
	binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
}

// groupMaxEps is ggml's GROUP_MAX_EPS: below it a group counts as all zero.
const groupMaxEps = 1e-15

// makeQXQuants is ggml's make_qx_quants for a nil weight vector.
func makeQXQuants(x []float32, nmax int32, L []int8, rmseType int) float32 {
	max, amax := absMaxSigned(x)
	if amax < groupMaxEps {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	clampL := func(l int32) int32 { return max32(-nmax, min(nmax-1, l)) }
	if rmseType == 0 {
		for i, v := range x {
			L[i] = int8(nmax + clampL(nearestInt(iscale*v)))
		}
		return 1 / iscale
	}
	returnEarly := false
	if rmseType < 0 {
		rmseType = -rmseType
		returnEarly = true
	}
	weight := func(v float32) float32 {
		switch rmseType {
		case 1:
			return v * v
		case 2:
			return 1
		case 3:
			return abs32(v)
		default:
			return float32(math.Sqrt(float64(abs32(v))))
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampL(nearestInt(iscale * v))
		L[i] = int8(l + nmax)
		w := weight(v)
		sumlx += float32(float32(w*v) * float32(l))
		suml2 += float32(float32(w*float32(l)) * float32(l))
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	if returnEarly {
		if suml2 > 0 {
			return 0.5 * (scale + 1/iscale)
		}
		return 1 / iscale
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(float32(0.1)*float32(is))) / max
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := clampL(nearestInt(iscale * v))
			w := weight(v)
			sumlx += float32(float32(w*v) * float32(l))
			suml2 += float32(float32(w*float32(l)) * float32(l))
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clampL(nearestInt(iscale*v)))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

func max32(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}

// makeQKX2Quants is ggml's make_qkx2_quants: an asymmetric (scale, min)
// fit of x with levels 0..nmax, searched over nstep+1 candidate scales.
// It returns the scale and -min.
func makeQKX2Quants(x, weights []float32, nmax int32, L, laux []uint8, rmin, rdelta float32, nstep int, useMAD bool) (scale, theMin float32) {
	n := len(x)
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0, -lo
	}
	errOf := func(diff float32) float32 {
		if useMAD {
			return abs32(diff)
		}
		return diff * diff
	}
	clampL := func(l int32) uint8 { return uint8(max32(0, min(nmax, l))) }
	iscale := float32(nmax) / (hi - lo)
	scale = 1 / iscale
	var bestError float32
	for i := 0; i < n; i++ {
		L[i] = clampL(nearestInt(iscale * (x[i] - lo)))
		diff := float32(float32(scale*float32(L[i]))+lo) - x[i]
		bestError += float32(weights[i] * errOf(diff))
	}
	if nstep < 1 {
		return scale, -lo
	}
	for is := 0; is <= nstep; is++ {
		iscale = float32(float32(rmin+float32(rdelta*float32(is)))+float32(nmax)) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			l := clampL(nearestInt(iscale * (x[i] - lo)))
			laux[i] = l
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curError float32
			for i := 0; i < n; i++ {
				diff := float32(float32(thisScale*float32(laux[i]))+thisMin) - x[i]
				curError += float32(weights[i] * errOf(diff))
			}
			if curError < bestError {
				copy(L[:n], laux[:n])
				bestError = curError
				scale = thisScale
				lo = thisMin
			}
		}
	}
	return scale, -lo
}

// packScalesK4 stores eight 6-bit scales and mins the Q4_K/Q5_K way.
func packScalesK4(s []byte, ls, lm *[8]uint8) {
	clear(s[:12])
	for j := 0; j < 8; j++ {
		if j < 4 {
			s[j] = ls[j]
			s[j+4] = lm[j]
		} else {
			s[j+4] = ls[j]&0x0f | (lm[j]&0x0f)<<4
			s[j-4] |= (ls[j] >> 4) << 6
			s[j] |= (lm[j] >> 4) << 6
		}
	}
}

// kQuantScalesMins fits the eight 32-element sub-blocks of a Q4_K/Q5_K
// super-block, stores d, dmin and the scales into b[0:16] and returns the
// final levels in L.
func kQuantScalesMins(x []float32, b []byte, L *[QK_K]uint8, nmax int32, rmin float32, nstep int) {
	var laux [32]uint8
	var weights [32]float32
	var mins, scales [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(xs, weights[:], nmax, L[32*j:32*j+32], laux[:], rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := 0; j < 8; j++ {
		ls[j] = min(63, uint8(nearestInt(invScale*scales[j])))
		lm[j] = min(63, uint8(nearestInt(invMin*mins[j])))
	}
	putHalf(b, maxScale/63)
	putHalf(b[2:], maxMin/63)
	packScalesK4(b[4:16], &ls, &lm)
	dAll, mAll := half(b), half(b[2:])
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, b[4:16])
		d := dAll * float32(sc)
		if d == 0 {
			continue
		}
		dm := float32(mAll * float32(m))
		for ii := 0; ii < 32; ii++ {
			l := nearestInt((x[32*j+ii] + dm) / d)
			L[32*j+ii] = uint8(max32(0, min(nmax, l)))
		}
	}
}

func quantQ4_K(x []float32, b []byte) {
	var L [QK_K]uint8
	kQuantScalesMins(x, b, &L, 15, -1, 20)
	q := b[16:144]
	for j := 0; j < QK_K; j += 64 {
		for l := 0; l < 32; l++ {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
		q = q[32:]
	}
}

func quantQ5_K(x []float32, b []byte) {
	var L [QK_K]uint8
	kQuantScalesMins(x, b, &L, 31, -0.5, 15)
	qh := b[16:48]
	ql := b[48:176]
	clear(qh)
	m1, m2 := byte(1), byte(2)
	for n := 0; n < QK_K; n += 64 {
		for j := 0; j < 32; j++ {
			l1 := L[n+j]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			l2 := L[n+j+32]
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
		ql = ql[32:]
	}
}

func quantQ6_K(x []float32, b []byte) {
	var L [QK_K]int8
	var scales [16]float32
	var maxScale, maxAbsScale float32
	for ib := 0; ib < 16; ib++ {
		s := makeQXQuants(x[16*ib:16*ib+16], 32, L[16*ib:16*ib+16], 1)
		scales[ib] = s
		if a := abs32(s); a > maxAbsScale {
			maxAbsScale, maxScale = a, s
		}
	}
	if maxAbsScale < groupMaxEps {
		clear(b)
		return
	}
	iscale := -128 / maxScale
	putHalf(b[208:], 1/iscale)
	sc := b[192:208]
	for ib := 0; ib < 16; ib++ {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	dAll := half(b[208:])
	for j := 0; j < 16; j++ {
		d := dAll * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := nearestInt(x[16*j+ii] / d)
			L[16*j+ii] = int8(max32(-32, min(31, l)) + 32)
		}
	}
	ql, qh := b[0:128], b[128:192]
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			q1 := byte(L[j+l]) & 0x0f
			q2 := byte(L[j+l+32]) & 0x0f
			q3 := byte(L[j+l+64]) & 0x0f
			q4 := byte(L[j+l+96]) & 0x0f
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = byte(L[j+l])>>4 | (byte(L[j+l+32])>>4)<<2 | (byte(L[j+l+64])>>4)<<4 | (byte(L[j+l+96])>>4)<<6
		}
		ql, qh = ql[64:], qh[32:]
	}
}

func quantQ2_K(x []float32, b []byte) {
	var L [QK_K]uint8
	var laux [16]uint8
	var weights [16]float32
	var mins, scales [16]float32
	const q4scale = 15
	var maxScale, maxMin float32
	for j := 0; j < 16; j++ {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(xs, weights[:], 3, L[16*j:16*j+16], laux[:], -0.5, 0.1, 15, true)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	sc := b[0:16]
	if maxScale > 0 {
		iscale := q4scale / maxScale
		for j := 0; j < 16; j++ {
			sc[j] = byte(nearestInt(iscale * scales[j]))
		}
		putHalf(b[80:], maxScale/q4scale)
	} else {
		clear(sc)
		putHalf(b[80:], 0)
	}
	if maxMin > 0 {
		iscale := q4scale / maxMin
		for j := 0; j < 16; j++ {
			sc[j] |= byte(nearestInt(iscale*mins[j]) << 4)
		}
		putHalf(b[82:], maxMin/q4scale)
	} else {
		putHalf(b[82:], 0)
	}
	for j := 0; j < 16; j++ {
		d := half(b[80:]) * float32(sc[j]&0x0f)
		if d == 0 {
			continue
		}
		dm := float32(half(b[82:]) * float32(sc[j]>>4))
		for ii := 0; ii < 16; ii++ {
			l := nearestInt((x[16*j+ii] + dm) / d)
			L[16*j+ii] = uint8(max32(0, min(3, l)))
		}
	}
	qs := b[16:80]
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// makeQ3Quants is ggml's make_q3_quants with do_rmse set.
func makeQ3Quants(x []float32, nmax int32, L []int8) float32 {
	max, amax := absMaxSigned(x)
	if amax < groupMaxEps {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := max32(-nmax, min(nmax-1, nearestInt(iscale*v)))
		L[i] = int8(l)
		w := v * v
		sumlx += float32(float32(w*v) * float32(l))
		suml2 += float32(float32(w*float32(l)) * float32(l))
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := v * v
			slx := sumlx - float32(float32(w*v)*float32(L[i]))
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*float32(L[i]))*float32(L[i]))
				newL := max32(-nmax, min(nmax-1, nearestInt(float32(v*sl2)/slx)))
				if newL != int32(L[i]) {
					slx += float32(float32(w*v) * float32(newL))
					sl2 += float32(float32(w*float32(newL)) * float32(newL))
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = int8(newL)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

func quantQ3_K(x []float32, b []byte) {
	var L [QK_K]int8
	var scales [16]float32
	var maxScale, amax float32
	for j := 0; j < 16; j++ {
		scales[j] = makeQ3Quants(x[16*j:16*j+16], 4, L[16*j:16*j+16])
		if s := abs32(scales[j]); s > amax {
			amax, maxScale = s, scales[j]
		}
	}
	hmask, qs, sc := b[0:32], b[32:96], b[96:108]
	clear(sc)
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := 0; j < 16; j++ {
			l := int8(nearestInt(iscale * scales[j]))
			l = int8(max32(-32, min(31, int32(l))) + 32)
			if j < 8 {
				sc[j] = byte(l) & 0x0f
			} else {
				sc[j-8] |= (byte(l) & 0x0f) << 4
			}
			l >>= 4
			sc[j%4+8] |= byte(l) << (2 * (j / 4))
		}
		putHalf(b[108:], 1/iscale)
	} else {
		putHalf(b[108:], 0)
	}
	dAll := half(b[108:])
	for j := 0; j < 16; j++ {
		var s int8
		if j < 8 {
			s = int8(sc[j] & 0x0f)
		} else {
			s = int8(sc[j-8] >> 4)
		}
		s = int8(byte(s)|((sc[8+j%4]>>(2*(j/4)))&3)<<4) - 32
		d := dAll * float32(s)
		if d == 0 {
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := nearestInt(x[16*j+ii] / d)
			L[16*j+ii] = int8(max32(-4, min(3, l)) + 4)
		}
	}
	clear(hmask)
	m, hm := 0, byte(1)
	for j := 0; j < QK_K; j++ {
		if L[j] > 3 {
			hmask[m] |= hm
			L[j] -= 4
		}
		m++
		if m == QK_K/8 {
			m = 0
			hm <<= 1
		}
	}
	for j := 0; j < QK_K; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = byte(L[j+l]) | byte(L[j+l+32])<<2 | byte(L[j+l+64])<<4 | byte(L[j+l+96])<<6
		}
	}
}
