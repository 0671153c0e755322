//go:build !noasm && amd64

package ggml

import "unsafe"

//go:noescape
func m32RowsVNNI(w *byte, rs int, nb int, acts *m32Acts, nt int, order int, out *[4][8]float32, pf uintptr, pfstep int)

//go:noescape
func m32RowsQ5VNNI(w *byte, rs int, nb int, acts *m32Acts, nt int, out *[4][8]float32, pf uintptr, pfstep int)

//go:noescape
func m32RowsQ4VNNI(w *byte, rs int, nb int, acts *m32Acts, nt int, out *[4][8]float32, pf uintptr, pfstep int)

//go:noescape
func m32RowsAVX2(w *byte, rs int, nb int, acts *m32Acts, nt int, order int, out *[4][8]float32, pf uintptr, pfstep int)

//go:noescape
func m32ActsVNNI(w *byte, rs int, nb int, xr *byte, xd *float32, sw *int32, order int, out *[4][16]float32, pf uintptr, pfstep int)

//go:noescape
func m32RepackAct(q *int8, d *float32, nb int, xr *byte, xd *float32)

//go:noescape
func m32SumW(w *byte, stride int, nb int, out *int32)

//go:noescape
func m32UnpackQ4_0(src *byte, stride int, nb int, dst *byte)

//go:noescape
func m32UnpackQ5_0(src *byte, stride int, nb int, dst *byte)

// m32Acts passes up to four activations to m32RowsVNNI.
type m32Acts struct {
	q [4]*int8
	d [4]*float32
}

// m32Kind describes a weight type to the kernels: how to rewrite its
// blocks as Q8_0-layout signed levels (nil for Q8_0 itself) and the order
// of its float operations (0: sum*(dw*dx) like dotQ8_0 and dotQ5_0; 1:
// (sum*dw)*dx like dotQ4_0).
type m32Kind struct {
	typ        Type
	blockBytes int
	unpack     func(src *byte, stride int, nb int, dst *byte)
	order      int
}

var (
	m32Q8_0 = m32Kind{typ: Q8_0, blockBytes: 34}
	m32Q4_0 = m32Kind{typ: Q4_0, blockBytes: 18, unpack: m32UnpackQ4_0, order: 1}
	m32Q5_0 = m32Kind{typ: Q5_0, blockBytes: 22, unpack: m32UnpackQ5_0}
)

// The matKernels of the 32-element block types (typeInfo.mat).
func matQ8_0(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	m32Mat(ks, &m32Q8_0, w, rs, r0, r1, xs, ys)
}

func matQ4_0(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	m32Mat(ks, &m32Q4_0, w, rs, r0, r1, xs, ys)
}

func matQ5_0(ks *Kernels, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	m32Mat(ks, &m32Q5_0, w, rs, r0, r1, xs, ys)
}

// m32Mat is the matKernel of the 32-element block types: the AVX-512 VNNI
// row-tile or activation-lane kernel, or the AVX2 row-tile kernel, by the
// set ks's level.
func m32Mat(ks *Kernels, k *m32Kind, w []byte, rs, r0, r1 int, xs []*Activation, ys [][]float32) {
	dot := ks.kernelsFor(k.typ).dot
	if ks.level < levelAVX2 || len(xs) == 0 || xs[0].n < 32 {
		rowLoop(dot, w, rs, r0, r1, xs, ys) // the fast path off
		return
	}
	nb := xs[0].n / 32
	var r int
	if ks.level < levelVNNI || len(xs) <= ks.m32RowsMaxActs {
		r = m32RowTiles(ks, k, w, rs, nb, r0, r1, xs, ys)
	} else {
		r = m32ActTiles(k, w, rs, nb, r0, r1, xs, ys)
	}
	rowLoop(dot, w, rs, r, r1, xs, ys) // the tail
}

// m32RowTiles runs the row-tile kernel over the whole tiles of eight rows
// in [r0, r1) and returns where the tail starts.
func m32RowTiles(ks *Kernels, k *m32Kind, w []byte, rs, nb, r0, r1 int, xs []*Activation, ys [][]float32) int {
	// every type with an unpacker has a VNNI row-tile kernel that decodes
	// it in registers (m32RowsQ4VNNI, m32RowsQ5VNNI)
	vnni := ks.level >= levelVNNI
	direct := vnni && k.unpack != nil && ks.m32RowsDirect
	var sc *m32Scratch
	if k.unpack != nil && !direct {
		sc = m32Free.get()
		defer m32Free.put(sc)
		sc.wq = grow(sc.wq, 8*nb*34)
	}
	var acts m32Acts
	var out [4][8]float32
	r := r0
	for ; r+8 <= r1; r += 8 {
		wp, wrs := &w[r*rs], rs
		// prefetch the tile after next, spread over this tile's blocks
		pf := uintptr(unsafe.Pointer(unsafe.SliceData(w))) + uintptr((r+16)*rs)
		pfstep := 8 * rs / nb
		if k.unpack != nil && !direct {
			for i := 0; i < 8; i++ {
				k.unpack(&w[(r+i)*rs], k.blockBytes, nb, &sc.wq[i*nb*34])
			}
			wp, wrs = &sc.wq[0], nb*34
		}
		for t0 := 0; t0 < len(xs); t0 += 4 {
			nt := min(4, len(xs)-t0)
			for i := 0; i < nt; i++ {
				a := xs[t0+i]
				acts.q[i], acts.d[i] = &a.qs[0], &a.d[0]
			}
			// direct calls (not through a func value) keep acts and out
			// on the stack
			if direct && k.typ == Q5_0 {
				m32RowsQ5VNNI(wp, wrs, nb, &acts, nt, &out, pf, pfstep)
			} else if direct && k.typ == Q4_0 {
				m32RowsQ4VNNI(wp, wrs, nb, &acts, nt, &out, pf, pfstep)
			} else if vnni {
				m32RowsVNNI(wp, wrs, nb, &acts, nt, k.order, &out, pf, pfstep)
			} else {
				m32RowsAVX2(wp, wrs, nb, &acts, nt, k.order, &out, pf, pfstep)
			}
			for i := 0; i < nt; i++ {
				copy(ys[t0+i][r:r+8], out[i][:])
			}
		}
	}
	return r
}

// m32ActTiles runs the activation-lane kernel over the whole tiles of four
// rows in [r0, r1) and returns where the tail starts.
func m32ActTiles(k *m32Kind, w []byte, rs, nb, r0, r1 int, xs []*Activation, ys [][]float32) int {
	if r1-r0 < 4 {
		return r0
	}
	sc := m32Free.get()
	defer m32Free.put(sc)
	groups := (len(xs) + m32Lanes - 1) / m32Lanes
	sc.xr = sc.alignedBytes(groups * nb * 512)
	sc.xd = grow(sc.xd, groups*nb*m32Lanes)
	sc.sw = grow(sc.sw, 4*nb)
	if k.unpack != nil {
		sc.wq = grow(sc.wq, 4*nb*34)
	}
	m32RepackAsm(sc.xr, sc.xd, xs, nb)
	var out [4][16]float32
	r := r0
	for ; r+4 <= r1; r += 4 {
		wp, wrs := &w[r*rs], rs
		if k.unpack != nil {
			for i := 0; i < 4; i++ {
				k.unpack(&w[(r+i)*rs], k.blockBytes, nb, &sc.wq[i*nb*34])
			}
			wp, wrs = &sc.wq[0], nb*34
		}
		for i := 0; i < 4; i++ {
			if k.unpack != nil {
				m32SumW(&sc.wq[i*nb*34], 34, nb, &sc.sw[i*nb])
			} else {
				m32SumW(&w[(r+i)*rs], 34, nb, &sc.sw[i*nb])
			}
		}
		// the first pass prefetches the next tile (the weights are read
		// from memory once per tile, by m32SumW and that pass)
		pf := uintptr(unsafe.Pointer(unsafe.SliceData(w))) + uintptr((r+4)*rs)
		pfstep := 4 * rs / nb
		for g := 0; g < groups; g++ {
			m32ActsVNNI(wp, wrs, nb, &sc.xr[g*nb*512], &sc.xd[g*nb*m32Lanes], &sc.sw[0], k.order, &out, pf, pfstep)
			pfstep = 0 // later passes prefetch the same lines again, harmlessly
			lanes := min(m32Lanes, len(xs)-g*m32Lanes)
			for l, y := range ys[g*m32Lanes : g*m32Lanes+lanes] {
				y = y[r : r+4 : r+4]
				y[0], y[1], y[2], y[3] = out[0][l], out[1][l], out[2][l], out[3][l]
			}
		}
	}
	return r
}

// m32RepackAsm is m32Repack with the copying done by m32RepackAct.
func m32RepackAsm(xr []byte, xd []float32, xs []*Activation, nb int) {
	groups := (len(xs) + m32Lanes - 1) / m32Lanes
	xr = xr[:groups*nb*512]
	xd = xd[:groups*nb*m32Lanes]
	for i, a := range xs {
		g, lane := i/m32Lanes, i%m32Lanes
		m32RepackAct(&a.qs[0], &a.d[0], nb, &xr[g*nb*512+4*lane], &xd[g*nb*m32Lanes+lane])
	}
	if rest := len(xs) % m32Lanes; rest != 0 { // lanes past the last activation: zeros
		g := groups - 1
		for b := 0; b < nb; b++ {
			dst := xr[(g*nb+b)*512:]
			for k := 0; k < 8; k++ {
				for lane := rest; lane < m32Lanes; lane++ {
					dst[k*64+4*lane], dst[k*64+4*lane+1], dst[k*64+4*lane+2], dst[k*64+4*lane+3] = 0x80, 0x80, 0x80, 0x80
				}
			}
			clear(xd[(g*nb+b)*m32Lanes+rest : (g*nb+b+1)*m32Lanes])
		}
	}
}
