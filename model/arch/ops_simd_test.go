package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
)

// expKernels lists the vector forms of swiglu and expSub this build and
// CPU run; a test that compares them with the Go code skips when there
// are none (there swiglu is swigluGo).
func expKernels(tb testing.TB) []vecLevel {
	tb.Helper()
	var ls []vecLevel
	for lv := expBest; lv > vecGo; lv-- {
		ls = append(ls, lv)
	}
	if len(ls) == 0 {
		tb.Skip("no vector swiglu/expSub on this build or CPU")
	}
	return ls
}

// forEachKernel runs f as a subtest for each vector form.
func forEachKernel(t *testing.T, f func(t *testing.T, lv vecLevel)) {
	for _, lv := range expKernels(t) {
		t.Run(lv.String(), func(t *testing.T) { f(t, lv) })
	}
}

// sameBits reports whether two float32 results agree bit for bit, NaN
// payload and sign included.
func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

// specialFloats are the edges of expf and silu: zeros, infinities, NaNs
// (quiet, signalling, both signs), subnormals, the overflow and underflow
// thresholds and the |n| > 126 and > 192 boundaries of ggml's expf.
func specialFloats() []float32 {
	bits := []uint32{
		0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
		0x7fa00001, 0xffa00001, 0x7f800001, 0x7fffffff, 0xffffffff, 0x7fc12345,
		1, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000, 0x80800000,
		0x7f7fffff, 0xff7fffff,
	}
	var s []float32
	for _, b := range bits {
		s = append(s, math.Float32frombits(b))
	}
	for _, v := range []float32{1, -1, 0.5, -0.5, 88.37, 88.38, 88.39, 88.72, 88.73, 89, -87.33, -87.34,
		-103.9, -103.97, -103.98, -104, 126 * 0.6931472, -126 * 0.6931472, 87.5, -87.5, 133, -133,
		192 * 0.6931472, -192 * 0.6931472, 1000, -1000, 1e-30, -1e-30} {
		s = append(s, v, math.Nextafter32(v, float32(math.Inf(1))), math.Nextafter32(v, float32(math.Inf(-1))))
	}
	return s
}

// sweep calls f with batches of float32 bit patterns: every 97th pattern
// of the 2^32 (every 9973rd with -short), each batch shifted so that
// every lane position meets every kind of value.
func sweep(t *testing.T, f func(xs []float32)) {
	step := uint64(97)
	if testing.Short() {
		step = 9973
	}
	buf := make([]float32, 0, 4096)
	for b := uint64(0); b < 1<<32; b += step {
		buf = append(buf, math.Float32frombits(uint32(b)))
		if len(buf) == cap(buf) {
			f(buf)
			buf = buf[:0]
		}
	}
	buf = append(buf, specialFloats()...)
	f(buf)
}

func TestSwigluMatchesGoOverBitPatterns(t *testing.T) {
	forEachKernel(t, func(t *testing.T, lv vecLevel) {
		us := []float32{1, -1, 0.75, 3.5e-3, -2e4, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)),
			math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00002), 1e-40}
		bad := 0
		var a, want, u []float32
		sweep(t, func(xs []float32) {
			a, want, u = append(a[:0], xs...), append(want[:0], xs...), u[:0]
			for i := range xs {
				u = append(u, us[i%len(us)])
			}
			swigluAt(lv, a, u)
			swigluGo(want, u)
			for i := range xs {
				if !sameBits(a[i], want[i]) {
					if bad++; bad <= 10 {
						t.Errorf("swiglu(%g (%#08x), u %g) = %#08x, Go %#08x", xs[i], math.Float32bits(xs[i]), u[i],
							math.Float32bits(a[i]), math.Float32bits(want[i]))
					}
				}
			}
		})
		if bad > 0 {
			t.Errorf("%d results differ", bad)
		}
	})
}

func TestExpSubMatchesGoOverBitPatterns(t *testing.T) {
	forEachKernel(t, func(t *testing.T, lv vecLevel) {
		for _, m := range []float32{0, 3.25, -17, 1e-3} {
			bad := 0
			var s, want []float32
			sweep(t, func(xs []float32) {
				s, want = append(s[:0], xs...), append(want[:0], xs...)
				expSubAt(lv, s, m)
				expSubGo(want, m)
				for i := range xs {
					if !sameBits(s[i], want[i]) {
						if bad++; bad <= 10 {
							t.Errorf("expSub(%g (%#08x), %g) = %#08x, Go %#08x", xs[i], math.Float32bits(xs[i]), m,
								math.Float32bits(s[i]), math.Float32bits(want[i]))
						}
					}
				}
			})
			if bad > 0 {
				t.Errorf("m=%g: %d results differ", m, bad)
			}
		}
	})
}

// TestSwigluExpSubLengths runs every length 0..40 at every alignment
// within a cache line's worth of floats and checks that the elements
// around the slice are left alone (the tail is masked, not rounded up).
func TestSwigluExpSubLengths(t *testing.T) {
	forEachKernel(t, func(t *testing.T, lv vecLevel) {
		r := rand.New(rand.NewPCG(1, 2))
		const guard = 20
		sentinel := math.Float32frombits(0x7fc0dead)
		for n := range 41 {
			for off := range 16 {
				a := make([]float32, off+n+guard)
				u := make([]float32, off+n+guard)
				for i := range a {
					a[i], u[i] = sentinel, sentinel
				}
				for i := off; i < off+n; i++ {
					a[i] = float32(r.NormFloat64() * 8)
					u[i] = float32(r.NormFloat64())
				}
				if n > 3 {
					a[off+n-1] = 200 // an |n| > 192 lane in the tail
					a[off+1] = -95   // an |n| > 126 lane
				}
				want := append([]float32(nil), a...)
				swigluAt(lv, a[off:off+n], u[off:off+n])
				swigluGo(want[off:off+n], u[off:off+n])
				for i := range a {
					if !sameBits(a[i], want[i]) {
						t.Fatalf("swiglu n=%d off=%d: element %d = %#08x, want %#08x", n, off, i-off,
							math.Float32bits(a[i]), math.Float32bits(want[i]))
					}
				}
				s := append([]float32(nil), a...)
				want = append(want[:0], a...)
				expSubAt(lv, s[off:off+n], 1.5)
				expSubGo(want[off:off+n], 1.5)
				for i := range s {
					if !sameBits(s[i], want[i]) {
						t.Fatalf("expSub n=%d off=%d: element %d = %#08x, want %#08x", n, off, i-off,
							math.Float32bits(s[i]), math.Float32bits(want[i]))
					}
				}
			}
		}
	})
}

// TestSwigluDispatch checks that swiglu and expSub run the fastest form
// (the one the tests above compare with Go), and that the Go form is
// what swigluAt runs at vecGo.
func TestSwigluDispatch(t *testing.T) {
	a, u := []float32{-3, 0.5, 7, 1, 2, 3, 4, 5, 6}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	want := append([]float32(nil), a...)
	swigluGo(want, u)
	best := func(a, u []float32) { swigluAt(vecOf(ggml.BestKernels()), a, u) }
	for _, f := range []func(a, u []float32){best, func(a, u []float32) { swigluAt(vecGo, a, u) }} {
		got := append([]float32(nil), a...)
		f(got, u)
		for i := range got {
			if !sameBits(got[i], want[i]) {
				t.Fatalf("swiglu[%d] = %g, want %g", i, got[i], want[i])
			}
		}
	}
	if expBest == vecGo && asmExp {
		t.Error("an amd64 build with assembly finds no vector form")
	}
	// each kernel set asks for the form of its width, as far as the CPU
	// runs it; the pure-Go set for the Go form
	for _, ks := range ggml.KernelSets() {
		want := vecGo
		switch ks.VectorBits() {
		case 512:
			want = vecAVX512
		case 256:
			want = vecAVX2
		}
		if got := vecOf(ks); got != min(want, expBest) || ks.Name() == "go" && got != vecGo {
			t.Errorf("set %s: swiglu form %s, want %s", ks, got, min(want, expBest))
		}
	}
}

// FuzzSwigluExpSub compares the vector forms with the Go ones on
// arbitrary bytes read as float32 pairs, at any length.
func FuzzSwigluExpSub(f *testing.F) {
	f.Add([]byte{}, float32(0))
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}, float32(1))
	f.Add(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0x7f800000), 0xffc00000), float32(-2))
	seed := make([]byte, 0, 8*37)
	for i, v := range specialFloats()[:37] {
		seed = binary.LittleEndian.AppendUint32(seed, math.Float32bits(v))
		seed = binary.LittleEndian.AppendUint32(seed, math.Float32bits(float32(i)-18))
	}
	f.Add(seed, float32(88))
	kernels := expKernels(f)
	f.Fuzz(func(t *testing.T, data []byte, m float32) {
		n := len(data) / 8
		a, u := make([]float32, n), make([]float32, n)
		for i := range n {
			a[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[8*i:]))
			u[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[8*i+4:]))
		}
		wantA, wantS := append([]float32(nil), a...), append([]float32(nil), a...)
		swigluGo(wantA, u)
		expSubGo(wantS, m)
		for _, k := range kernels {
			gotA, gotS := append([]float32(nil), a...), append([]float32(nil), a...)
			swigluAt(k, gotA, u)
			expSubAt(k, gotS, m)
			for i := range n {
				if !sameBits(gotA[i], wantA[i]) {
					t.Fatalf("%s: swiglu[%d] = %#08x, Go %#08x", k, i, math.Float32bits(gotA[i]), math.Float32bits(wantA[i]))
				}
				if !sameBits(gotS[i], wantS[i]) {
					t.Fatalf("%s: expSub[%d] = %#08x, Go %#08x", k, i, math.Float32bits(gotS[i]), math.Float32bits(wantS[i]))
				}
			}
		}
	})
}

// BenchmarkSwiglu is one token's SwiGLU in a Qwen2.5-0.5B layer (4864
// values), Go against the vector form; BenchmarkExpSub is softmax's
// exponentials over 1024 scores.
func BenchmarkSwiglu(b *testing.B) { benchExp(b, 4864, swigluAt) }

func BenchmarkExpSub(b *testing.B) { benchExp(b, 1024, expSub1) }

func expSub1(lv vecLevel, a, _ []float32) { expSubAt(lv, a, 3) }

func benchExp(b *testing.B, n int, f func(lv vecLevel, a, u []float32)) {
	r := rand.New(rand.NewPCG(3, 4))
	src, u := make([]float32, n), make([]float32, n)
	for i := range src {
		src[i], u[i] = float32(r.NormFloat64()*2), float32(r.NormFloat64())
	}
	a := make([]float32, n)
	for lv := vecGo; lv <= expBest; lv++ {
		b.Run(fmt.Sprintf("%s/n=%d", lv, n), func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				copy(a, src)
				f(lv, a, u)
			}
		})
	}
}
