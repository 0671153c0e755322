package arch

import (
	"math"

	"github.com/chatloop/chatloop/model/ggml"
)

// rmsNorm writes x/rms(x)*w to dst (dst may be x), as ggml's rms_norm
// followed by mul: squares summed in float64, the scale in float32.
func rmsNorm(dst, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	for i, v := range x {
		dst[i] = (v * scale) * w[i]
	}
}

// rope holds the cos/sin table of one position, as ggml's rope cache:
// theta starts at the position and is multiplied by base^(-2/dims) in
// float32 for each pair, divided by the pair's frequency factor if any.
type rope struct {
	dims    int
	neox    bool
	base    float32
	scale   float32   // frequency scale
	factors []float32 // rope_freqs, one per pair, or nil
	cos     []float32
	sin     []float32
}

func newRope(dims int, neox bool, base, freqScale float32, factors []float32) *rope {
	return &rope{dims: dims, neox: neox, base: base, scale: freqScale, factors: factors,
		cos: make([]float32, dims/2), sin: make([]float32, dims/2)}
}

// at fills the table for position pos.
func (r *rope) at(pos int) {
	thetaScale := float32(math.Pow(float64(r.base), float64(float32(-2)/float32(r.dims))))
	theta := float32(pos)
	for i := range r.dims / 2 {
		ff := float32(1)
		if r.factors != nil {
			ff = r.factors[i]
		}
		t := r.scale * (theta / ff)
		r.sin[i], r.cos[i] = sincosf(t)
		theta *= thetaScale
	}
}

// apply rotates every head of x (heads × headDim) in place.
func (r *rope) apply(x []float32, heads, headDim int) {
	half := r.dims / 2
	for h := range heads {
		v := x[h*headDim : h*headDim+r.dims]
		for i := range half {
			c, s := r.cos[i], r.sin[i]
			var a, b int
			if r.neox {
				a, b = i, i+half
			} else {
				a, b = 2*i, 2*i+1
			}
			x0, x1 := v[a], v[b]
			// each product rounded on its own, as ggml's x86-64 build
			// (no FMA) computes them
			v[a] = float32(x0*c) - float32(x1*s)
			v[b] = float32(x0*s) + float32(x1*c)
		}
	}
}

// sincosf returns the sine and cosine of x as glibc's sinf, cosf and
// sincosf (glibc 2.28 and later, after ARM's optimized routines) compute
// them in their FMA build, which glibc picks on every x86-64 CPU with FMA:
// ggml's rope takes its cos/sin table from them. They are not correctly
// rounded (up to 0.56 ulp): on Qwen2.5 and Llama 3 shapes about one
// table entry in a hundred differs from the correctly rounded value.
// Arguments are reduced to [-π/4, π/4] with one multiply-subtract below
// 120 and with 4/π to 192 bits above; the polynomials run in float64.
func sincosf(y float32) (sin, cos float32) {
	x := float64(y)
	p := &sincosTable[0]
	top := abstop12(y)
	switch {
	case top < abstop12(float32(sincosPio4)):
		if top < abstop12(0x1p-12) {
			return y, 1
		}
		return sincosPoly(x, x*x, p, 0)
	case top < abstop12(120):
		// reduce_fast without round-to-int instructions: hpiInv is
		// scaled by 2^24, so the quadrant lands in bits 24..31.
		r := x * p.hpiInv
		n := (int32(r) + 0x800000) >> 24
		x = math.FMA(-float64(n), p.hpi, x)
		s := p.sign[n&3]
		if n&2 != 0 {
			p = &sincosTable[1]
		}
		return sincosPoly(x*s, x*x, p, int(n))
	case top < abstop12(float32(math.Inf(1))):
		xi := math.Float32bits(y)
		sign := int(xi >> 31)
		x, n := sincosReduceLarge(xi)
		s := p.sign[(n+sign)&3]
		if (n+sign)&2 != 0 {
			p = &sincosTable[1]
		}
		return sincosPoly(x*s, x*x, p, n)
	default:
		nan := float32(math.NaN())
		return nan, nan
	}
}

// sincosConsts are one entry of glibc's __sincosf_table.
type sincosConsts struct {
	sign           [4]float64 // the sign of the sine in quadrants 0..3
	hpiInv, hpi    float64    // 2/π·2^24 and π/2
	c0, c1, c2, c3 float64    // the cosine polynomial
	c4             float64
	s1, s2, s3     float64 // the sine polynomial
}

const sincosPio4 = 0x1.921FB54442D18p-1

// sincosTable's second entry computes -cos, negating for free.
var sincosTable = [2]sincosConsts{
	{[4]float64{1, -1, -1, 1}, 0x1.45F306DC9C883p+23, 0x1.921FB54442D18p0,
		0x1p0, -0x1.ffffffd0c621cp-2, 0x1.55553e1068f19p-5, -0x1.6c087e89a359dp-10, 0x1.99343027bf8c3p-16,
		-0x1.555545995a603p-3, 0x1.1107605230bc4p-7, -0x1.994eb3774cf24p-13},
	{[4]float64{1, -1, -1, 1}, 0x1.45F306DC9C883p+23, 0x1.921FB54442D18p0,
		-0x1p0, 0x1.ffffffd0c621cp-2, -0x1.55553e1068f19p-5, 0x1.6c087e89a359dp-10, -0x1.99343027bf8c3p-16,
		-0x1.555545995a603p-3, 0x1.1107605230bc4p-7, -0x1.994eb3774cf24p-13},
}

// sincosInvPio4 is 4/π to 192 bits, 8 new bits per entry.
var sincosInvPio4 = [24]uint32{
	0xa2, 0xa2f9, 0xa2f983, 0xa2f9836e,
	0xf9836e4e, 0x836e4e44, 0x6e4e4415, 0x4e441529,
	0x441529fc, 0x1529fc27, 0x29fc2757, 0xfc2757d1,
	0x2757d1f5, 0x57d1f534, 0xd1f534dd, 0xf534ddc0,
	0x34ddc0db, 0xddc0db62, 0xc0db6295, 0xdb629599,
	0x6295993c, 0x95993c43, 0x993c4390, 0x3c439041,
}

// abstop12 is the top 12 bits of x's representation, sign cleared.
func abstop12(x float32) uint32 { return (math.Float32bits(x) >> 20) & 0x7ff }

// sincosReduceLarge reduces |x| ≥ 120 (xi its bits) modulo π/2 with a
// 32×96-bit product by 4/π in fixed point, returning the remainder in
// [-π/4, π/4] and the quadrant.
func sincosReduceLarge(xi uint32) (float64, int) {
	arr := sincosInvPio4[(xi>>26)&15:]
	shift := (xi >> 23) & 7
	xi = (xi&0xffffff | 0x800000) << shift
	res0 := uint64(xi * arr[0]) // a 32-bit product, as in C
	res1 := uint64(xi) * uint64(arr[4])
	res2 := uint64(xi) * uint64(arr[8])
	res0 = res2>>32 | res0<<32
	res0 += res1
	n := (res0 + 1<<61) >> 62
	res0 -= n << 62
	return float64(int64(res0)) * 0x1.921FB54442D18p-62, int(n)
}

// sincosPoly evaluates both polynomials at x (x2 = x²) for quadrant n,
// swapping sine and cosine for odd quadrants, with the fused
// multiply-adds of glibc's FMA build.
func sincosPoly(x, x2 float64, p *sincosConsts, n int) (sin, cos float32) {
	x4 := x2 * x2
	x3 := x2 * x
	c2 := math.FMA(x2, p.c4, p.c3)
	s1 := math.FMA(x2, p.s3, p.s2)
	c1 := math.FMA(x2, p.c1, p.c0)
	x5 := x3 * x2
	x6 := x4 * x2
	s := math.FMA(x3, p.s1, x)
	c := math.FMA(x4, p.c2, c1)
	sin, cos = float32(math.FMA(x5, s1, s)), float32(math.FMA(x6, c2, c))
	if n&1 != 0 {
		sin, cos = cos, sin
	}
	return sin, cos
}

// expf is ggml's vectorised exponential (ggml_v_expf, after ARM's
// optimized-routines expf) as the x86-64 CPU build without FMA computes it
// in each SSE2 lane: ggml_vec_soft_max_f32, ggml_vec_silu_f32 and
// ggml_vec_swiglu_f32 use it for every group of four elements. It is not
// correctly rounded (up to 1.45 ulp plus rounding) and llama.cpp's results
// depend on exactly these roundings, so every product and sum is rounded
// to float32 on its own (the explicit conversions keep Go from fusing them
// into FMAs). Above 88.38 it gives +Inf, below -103.97 zero.
func expf(x float32) float32 {
	const r = float32(0x1.8p23)
	z := float32(x*0x1.715476p+0) + r
	n := z - r
	b := (x - float32(n*0x1.62e4p-1)) - float32(n*0x1.7f7d1cp-20)
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	u := float32(b * b)
	p := float32(float32(float32(0x1.0e4020p-7*b)+0x1.573e2ep-5) * u)
	q := float32(0x1.555e66p-3*b) + 0x1.fffdb6p-2
	j := float32(float32(p+q)*u) + float32(0x1.ffffecp-1*b)
	an := float32(math.Abs(float64(n)))
	if !(an > 126) {
		return float32(j*k) + k
	}
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	if an > 192 {
		return float32(s1 * s1)
	}
	s2 := math.Float32frombits(e - g)
	return float32(float32(float32(s2*j)+s2) * s1)
}

// silu is x*sigmoid(x) as ggml_v_silu computes it in each lane of
// ggml_vec_silu_f32 and ggml_vec_swiglu_f32 (the x86-64 build's SSE2
// path): x / (1 + expf(-x)), with ggml's expf.
func silu(x float32) float32 { return x / (1 + expf(-x)) }

// vecLevel is a form of swiglu and expSub: Go, AVX2, or AVX-512.
type vecLevel int

const (
	vecGo vecLevel = iota
	vecAVX2
	vecAVX512
)

func (l vecLevel) String() string {
	switch l {
	case vecAVX2:
		return "avx2"
	case vecAVX512:
		return "avx512"
	}
	return "go"
}

// swigluAt(lv, a, u) sets a[i] = silu(a[i]) * u[i], as
// ggml_vec_swiglu_f32 does, in the form lv; u is at least as long as a.
// expSubAt(lv, s, m) sets s[i] = expf(s[i] - m), the exponentials of
// ggml_vec_soft_max_f32. Every form gives the same bits.

// vecOf is the form of swiglu and expSub that the kernel set ks asks for
// (by the width of its vectors), as far as this build and CPU run it.
func vecOf(ks *ggml.Kernels) vecLevel {
	lv := vecGo
	switch ks.VectorBits() {
	case 512:
		lv = vecAVX512
	case 256:
		lv = vecAVX2
	}
	return min(lv, expBest)
}

// swigluGo is swiglu in Go: silu first, then the product, as
// ggml_vec_swiglu_f32 rounds them.
func swigluGo(a, u []float32) {
	u = u[:len(a)]
	for j, g := range a {
		a[j] = silu(g) * u[j]
	}
}

// expSubGo is expSub in Go.
func expSubGo(s []float32, m float32) {
	for i, v := range s {
		s[i] = expf(v - m)
	}
}
