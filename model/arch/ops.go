package arch

import (
	"math"
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
		r.cos[i] = float32(math.Cos(float64(t)))
		r.sin[i] = float32(math.Sin(float64(t)))
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
			v[a] = x0*c - x1*s
			v[b] = x0*s + x1*c
		}
	}
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
