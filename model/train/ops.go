package train

import (
	"math"
	"unsafe"

	"github.com/chatloop/chatloop/model/arch"
)

// The differentiable operations of the transformer, each a forward
// function and a backward function that adds the gradient with respect to
// its inputs. They are generic over the element type so that the tests
// can check every backward against central finite differences in float64;
// training instantiates them with float32.

// rmsNorm writes x/rms(x)·w to y and returns the scale 1/rms(x). The sum
// of squares runs in float64, as in the engine.
func rmsNorm[F float](y, x []F, w []float32, eps float32) F {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	r := F(1 / math.Sqrt(sum/float64(len(x))+float64(eps)))
	for i, v := range x {
		y[i] = v * r * F(w[i])
	}
	return r
}

// rmsNormBack adds to dx the gradient of rmsNorm with respect to x, given
// its input x, its scale r and the gradient dy of its output:
// dx = r·(w⊙dy) − x·(r³/n)·Σ x⊙w⊙dy.
func rmsNormBack[F float](dx, x []F, w []float32, r F, dy []F) {
	var s float64
	for i, v := range x {
		s += float64(v) * float64(F(w[i])*dy[i])
	}
	c := F(s) * r * r * r / F(len(x))
	for i, v := range x {
		dx[i] += r*F(w[i])*dy[i] - v*c
	}
}

// ropeTable holds the cos and sin of every rotated pair at every position
// of a sequence, computed as the engine does (the angle of pair i is the
// position times base^(-2i/dims), accumulated in float32, divided by the
// pair's frequency factor and multiplied by the frequency scale).
type ropeTable struct {
	half     int
	neox     bool
	cos, sin []float32 // positions × half
}

func newRopeTable(n, dims int, neox bool, base, freqScale float32, factors []float32) *ropeTable {
	half := dims / 2
	t := &ropeTable{half: half, neox: neox, cos: make([]float32, n*half), sin: make([]float32, n*half)}
	thetaScale := float32(math.Pow(float64(base), float64(float32(-2)/float32(dims))))
	for p := range n {
		theta := float32(p)
		for i := range half {
			ff := float32(1)
			if factors != nil {
				ff = factors[i]
			}
			s, c := math.Sincos(float64(freqScale * (theta / ff)))
			t.cos[p*half+i], t.sin[p*half+i] = float32(c), float32(s)
			theta *= thetaScale
		}
	}
	return t
}

// rope rotates every head of x (heads × headDim) at position pos in
// place; inverse rotates the other way, which is the backward of the
// rotation (its transpose).
func rope[F float](t *ropeTable, x []F, pos, heads, headDim int, inverse bool) {
	cs, sn := t.cos[pos*t.half:(pos+1)*t.half], t.sin[pos*t.half:(pos+1)*t.half]
	for h := range heads {
		v := x[h*headDim : (h+1)*headDim]
		for i := range t.half {
			c, s := F(cs[i]), F(sn[i])
			if inverse {
				s = -s
			}
			a, b := 2*i, 2*i+1
			if t.neox {
				a, b = i, i+t.half
			}
			x0, x1 := v[a], v[b]
			v[a] = x0*c - x1*s
			v[b] = x0*s + x1*c
		}
	}
}

// expSub sets s[i] = exp(s[i] − m): in float32 with the engine's
// vectorised expf (model/arch: ggml's, within 1.45 ulp of the correctly
// rounded value, TestExpSubAccuracy checks it against math.Exp), in
// float64 with math.Exp.
func expSub[F float](s []F, m F) {
	if unsafe.Sizeof(F(0)) == 4 {
		arch.ExpSub(f32s(s), float32(m))
		return
	}
	for i, v := range s {
		s[i] = F(math.Exp(float64(v - m)))
	}
}

// swiglu writes silu(g)⊙u to a, silu(x) = x·σ(x) = x/(1 + e⁻ˣ); in
// float32 it is the engine's vectorised SwiGLU (the same roundings).
func swiglu[F float](a, g, u []F) {
	if unsafe.Sizeof(F(0)) == 4 {
		copy(a, g)
		arch.SwiGLU(f32s(a), f32s(u))
		return
	}
	for i, v := range g {
		a[i] = v / (1 + F(math.Exp(-float64(v)))) * u[i]
	}
}

// swigluBack writes the gradients of swiglu with respect to g and u into
// dg and du, given da: du = da·silu(g), dg = da·u·σ(g)(1 + g(1−σ(g))).
// dg holds e^(−g) on the way (the exponentials run vectorised).
func swigluBack[F float](dg, du, g, u, da []F) {
	dg = dg[:len(g)]
	for i, v := range g {
		dg[i] = -v
	}
	expSub(dg, 0)
	for i, v := range g {
		sg := 1 / (1 + dg[i])
		du[i] = da[i] * v * sg
		dg[i] = da[i] * u[i] * sg * (1 + v*(1-sg))
	}
}

// headView locates one attention head in rows of a sequence: row i's
// head starts at element i*stride+off and has dim elements.
type headView[F float] struct {
	data        []F
	stride, off int
}

func (h headView[F]) row(i, dim int) []F {
	return h.data[i*h.stride+h.off : i*h.stride+h.off+dim]
}

// visible returns the keys row i attends to: [0, e0) and [s1, i]. Rows
// before g1 attend to every earlier row; rows from g1 on skip the rows
// [g0, g1) (the other answer of a pair sharing its prompt, see layout).
func visible(i, g0, g1 int) (e0, s1 int) {
	if i >= g1 && g0 < g1 {
		return g0, g1
	}
	return i + 1, i + 1
}

// attendHead runs causal attention for one query head over n rows:
// out_i = Σ_j softmax_j(scale·q_i·k_j)·v_j over the keys j that row i
// sees (visible). It stores each row's log-sum-exp in lse (n) for the
// backward, and uses scores (n elements) as scratch.
func attendHead[F float](out, q, k, v headView[F], lse []F, n, dim int, scale F, g0, g1 int, scores []F) {
	for i := range n {
		qi := q.row(i, dim)
		e0, s1 := visible(i, g0, g1)
		cnt := 0
		for _, r := range [2][2]int{{0, e0}, {s1, i + 1}} {
			for j := r[0]; j < r[1]; j++ {
				scores[cnt] = scale * dot(qi, k.row(j, dim))
				cnt++
			}
		}
		m := F(math.Inf(-1))
		for _, s := range scores[:cnt] {
			m = max(m, s)
		}
		expSub(scores[:cnt], m)
		var sum float64
		for _, e := range scores[:cnt] {
			sum += float64(e)
		}
		lse[i] = m + F(math.Log(sum))
		o := out.row(i, dim)
		clear(o)
		inv := F(1 / sum)
		cnt = 0
		for _, r := range [2][2]int{{0, e0}, {s1, i + 1}} {
			for j := r[0]; j < r[1]; j++ {
				axpy(o, scores[cnt]*inv, v.row(j, dim))
				cnt++
			}
		}
	}
}

// attendHeadBack adds the gradients of attendHead with respect to q, k and
// v to dq, dk and dv, given its inputs, its output out, lse and the
// gradient dout of its output; scores (n) is scratch. With p_ij the
// attention weights: dv_j += Σ_i p_ij·dout_i, ds_ij = p_ij·(dout_i·v_j −
// dout_i·out_i), dq_i += scale·Σ_j ds_ij·k_j, dk_j += scale·Σ_i ds_ij·q_i.
func attendHeadBack[F float](dq, dk, dv, q, k, v, out, dout headView[F], lse []F, n, dim int, scale F, g0, g1 int, scores []F) {
	for i := range n {
		qi, doi := q.row(i, dim), dout.row(i, dim)
		di := dot(doi, out.row(i, dim))
		dqi := dq.row(i, dim)
		e0, s1 := visible(i, g0, g1)
		cnt := 0
		for _, r := range [2][2]int{{0, e0}, {s1, i + 1}} {
			for j := r[0]; j < r[1]; j++ {
				scores[cnt] = scale * dot(qi, k.row(j, dim))
				cnt++
			}
		}
		expSub(scores[:cnt], lse[i])
		cnt = 0
		for _, r := range [2][2]int{{0, e0}, {s1, i + 1}} {
			for j := r[0]; j < r[1]; j++ {
				kj, p := k.row(j, dim), scores[cnt]
				cnt++
				axpy(dv.row(j, dim), p, doi)
				ds := p * (dot(doi, v.row(j, dim)) - di) * scale
				axpy(dqi, ds, kj)
				axpy(dk.row(j, dim), ds, qi)
			}
		}
	}
}

// logSoftmax returns logits[target] − log Σ exp(logits) (the max and the
// sum in float64 from float32 exponentials). With grad it overwrites
// logits with the gradient of that log-probability with respect to
// them, onehot(target) − softmax; without, it leaves them overwritten
// with scratch.
func logSoftmax[F float](logits []F, target int, grad bool) float64 {
	lt := logits[target]
	m := F(math.Inf(-1))
	for _, v := range logits {
		m = max(m, v)
	}
	expSub(logits, m)
	var sum float64
	for _, e := range logits {
		sum += float64(e)
	}
	if grad {
		inv := F(1 / sum)
		for i, e := range logits {
			logits[i] = -e * inv
		}
		logits[target]++
	}
	return float64(lt) - (float64(m) + math.Log(sum))
}

func sqrt64(x float64) float64 { return math.Sqrt(x) }
