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

// expf is a correctly rounded float32 exponential.
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// silu is x*sigmoid(x) as ggml_silu_f32 computes it.
func silu(x float32) float32 { return x / (1 + expf(-x)) }
