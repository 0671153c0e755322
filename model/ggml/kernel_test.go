package ggml

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

var kernelTypes = []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K}

func randFloats(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * scale)
	}
	return x
}

// sameOrBothNaN compares float32 results bit for bit, treating any two NaNs
// as equal.
func sameOrBothNaN(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// checkAgainstRef runs the row kernels of every kernel set this CPU runs
// on rows of raw bytes and compares each row with the plain reference
// kernel.
func checkAgainstRef(t *testing.T, typ Type, w []byte, rows, cols int, x []float32, r Rounding) {
	t.Helper()
	a := Activation{Rounding: r}
	a.Prepare(x, typ)
	if a.Err() != nil {
		t.Fatal(a.Err())
	}
	y := make([]float32, rows)
	rs := len(w) / rows
	act := a.Bytes()
	for _, ks := range KernelSets() {
		if err := matVecPrepared(ks, typ, w, rows, cols, &a, y); err != nil {
			t.Fatal(err)
		}
		for r := 0; r < rows; r++ {
			want := refDot(typ, w[r*rs:(r+1)*rs], act, cols)
			if !sameOrBothNaN(y[r], want) {
				t.Fatalf("%s, kernels %s, row %d: kernel %v (%#08x), reference %v (%#08x)", typ, ks, r, y[r], math.Float32bits(y[r]), want, math.Float32bits(want))
			}
		}
	}
}

func TestKernelsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, cols = 7, 768
	for _, typ := range kernelTypes {
		for _, r := range []Rounding{RoundAVX, RoundRef} {
			w, err := Quantize(typ, randFloats(rng, rows*cols, 0.1))
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstRef(t, typ, w, rows, cols, randFloats(rng, cols, 2), r)
			// random bytes: every bit pattern of scales and quants
			raw := make([]byte, len(w))
			for i := range raw {
				raw[i] = byte(rng.Uint32())
			}
			if typ == F32 || typ == F16 || typ == BF16 {
				continue // random float bits are mostly NaN/huge; covered by the fuzzer
			}
			checkAgainstRef(t, typ, raw, rows, cols, randFloats(rng, cols, 2), r)
		}
	}
}

// FuzzMatVec feeds arbitrary weight bytes and activations to every kernel
// and compares with the reference kernels bit for bit.
func FuzzMatVec(f *testing.F) {
	f.Add(uint8(0), []byte{1, 2, 3}, int64(1), float32(1))
	f.Add(uint8(9), []byte{0xff, 0x7c, 0x00, 0xfe}, int64(7), float32(-3e4))
	f.Add(uint8(10), []byte{0x00, 0x7e, 0x01, 0x7c}, int64(-2), float32(1e-30))
	f.Fuzz(func(t *testing.T, ti uint8, seedBytes []byte, seed int64, scale float32) {
		typ := kernelTypes[int(ti)%len(kernelTypes)]
		cols := QK_K * (1 + int(uint64(seed)%2))
		rows := 2
		rs, _ := typ.RowSize(int64(cols))
		w := make([]byte, rows*int(rs))
		rng := rand.New(rand.NewPCG(uint64(seed), 1))
		for i := range w {
			if i < len(seedBytes) {
				w[i] = seedBytes[i]
			} else {
				w[i] = byte(rng.Uint32())
			}
		}
		x := randFloats(rng, cols, 1)
		for i := range x {
			x[i] *= scale
		}
		checkAgainstRef(t, typ, w, rows, cols, x, Rounding(seed&1))
	})
}

// FuzzDequantize checks that no bytes make Dequantize panic, for every type.
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(3), []byte{0xff, 0x7f, 0, 0})
	f.Add(uint8(12), []byte{0x00, 0x7c, 0x01, 0xfc})
	types := []Type{F32, F16, BF16, Q8_0, Q8_1, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K}
	f.Fuzz(func(t *testing.T, ti uint8, data []byte) {
		typ := types[int(ti)%len(types)]
		n := len(data) / typ.TypeSize() * typ.BlockSize()
		dst := make([]float32, n)
		size, _ := typ.RowSize(int64(n))
		if err := Dequantize(typ, data[:size], dst); err != nil {
			t.Fatal(err)
		}
		if len(data) > 0 {
			// a wrong size is an error, never a panic
			if err := Dequantize(typ, data, make([]float32, n+typ.BlockSize())); !errors.Is(err, ErrSize) {
				t.Fatalf("oversized dst: %v", err)
			}
		}
	})
}

func TestDequantizeHostileScales(t *testing.T) {
	// NaN, Inf and subnormal scales in every block type: values follow
	// IEEE arithmetic, nothing panics.
	for _, typ := range []Type{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K} {
		for _, h := range []uint16{0x7e00, 0x7c00, 0xfc00, 0x0001} {
			b := make([]byte, typ.TypeSize())
			for i := range b {
				b[i] = 0x5a
			}
			for off := 0; off+2 <= len(b); off += 2 {
				binary.LittleEndian.PutUint16(b[off:], h)
			}
			y := make([]float32, typ.BlockSize())
			if err := Dequantize(typ, b, y); err != nil {
				t.Fatal(typ, err)
			}
			x := randFloats(rand.New(rand.NewPCG(1, 1)), typ.BlockSize()*8, 1)
			w := make([]byte, 0)
			for len(w) < typ.TypeSize()*8 {
				w = append(w, b...)
			}
			if _, ok := VecDotType(typ); ok {
				var out [1]float32
				if err := MatVec(typ, w, 1, len(x), x, out[:]); err != nil {
					t.Fatal(typ, err)
				}
			}
		}
	}
}

func TestErrors(t *testing.T) {
	if err := Dequantize(Q4_0, make([]byte, 17), make([]float32, 32)); !errors.Is(err, ErrSize) {
		t.Errorf("short block: %v", err)
	}
	if err := Dequantize(Q4_K, make([]byte, 144), make([]float32, 100)); !errors.Is(err, ErrSize) {
		t.Errorf("partial super-block: %v", err)
	}
	if err := Dequantize(Type(99), nil, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := Quantize(Q8_0, make([]float32, 33)); !errors.Is(err, ErrSize) {
		t.Errorf("quantize 33: %v", err)
	}
	if _, err := Quantize(Type(77), make([]float32, 32)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("quantize unknown: %v", err)
	}
	y := make([]float32, 2)
	x := make([]float32, 256)
	if err := MatVec(Q2_K, make([]byte, 2*84), 2, 256, x, y); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Q2_K matvec: %v", err)
	}
	if err := MatVec(Q4_K, make([]byte, 2*144-1), 2, 256, x, y); !errors.Is(err, ErrSize) {
		t.Errorf("short weights: %v", err)
	}
	if err := MatVec(Q4_K, make([]byte, 2*144), 2, 256, x[:100], y); !errors.Is(err, ErrSize) {
		t.Errorf("short activation: %v", err)
	}
	if err := MatVec(Q4_K, make([]byte, 2*144), 2, 256, x, y[:1]); !errors.Is(err, ErrSize) {
		t.Errorf("short output: %v", err)
	}
	var a Activation
	a.Prepare(x, Q8_0) // Q8_0 activation
	if err := MatVecPrepared(Q4_K, make([]byte, 2*144), 2, 256, &a, y); !errors.Is(err, ErrSize) {
		t.Errorf("activation of the wrong type: %v", err)
	}
	p := NewPool(2)
	p.Close()
	if err := p.MatVec(Q8_0, make([]byte, 2*8*34), 2, 256, &a, y); !errors.Is(err, ErrClosed) {
		t.Errorf("closed pool: %v", err)
	}
	p.Close() // twice is fine
}

// TestPoolMatchesMatVec checks the pools of every kernel set this CPU runs
// against the pure-Go row kernels, bit for bit.
func TestPoolMatchesMatVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const rows, cols, batch = 300, 512, 3
	goKernels := KernelSets()[len(KernelSets())-1]
	for _, ks := range KernelSets() {
		for _, threads := range []int{1, 2, 3, 8} {
			testPoolMatchesMatVec(t, rng, NewPoolWith(threads, ks), goKernels, rows, cols, batch)
		}
	}
}

func testPoolMatchesMatVec(t *testing.T, rng *rand.Rand, p *Pool, ref *Kernels, rows, cols, batch int) {
	t.Helper()
	threads := p.Threads()
	defer p.Close()
	for _, typ := range kernelTypes {
		w, err := Quantize(typ, randFloats(rng, rows*cols, 0.1))
		if err != nil {
			t.Fatal(err)
		}
		xs := make([]*Activation, batch)
		ys := make([][]float32, batch)
		want := make([][]float32, batch)
		for i := range xs {
			xs[i] = &Activation{}
			xs[i].Prepare(randFloats(rng, cols, 1), typ)
			ys[i] = make([]float32, rows)
			want[i] = make([]float32, rows)
			if err := matVecPrepared(ref, typ, w, rows, cols, xs[i], want[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.MatMul(typ, w, rows, cols, xs, ys); err != nil {
			t.Fatal(err)
		}
		one := make([]float32, rows)
		if err := p.MatVec(typ, w, rows, cols, xs[0], one); err != nil {
			t.Fatal(err)
		}
		for i := range ys {
			for r := range ys[i] {
				if !sameBits(ys[i][r], want[i][r]) {
					t.Fatalf("kernels %s, %d threads, %s: MatMul[%d][%d] = %v, Go MatVec %v", p.Kernels(), threads, typ, i, r, ys[i][r], want[i][r])
				}
			}
		}
		for r := range one {
			if !sameBits(one[r], want[0][r]) {
				t.Fatalf("kernels %s, %d threads, %s: Pool.MatVec[%d] = %v, Go MatVec %v", p.Kernels(), threads, typ, r, one[r], want[0][r])
			}
		}
	}
}

func TestPoolConcurrentCallers(t *testing.T) {
	// calls from several goroutines are serialised, not mixed up
	rng := rand.New(rand.NewPCG(7, 8))
	const rows, cols = 64, 256
	w, _ := Quantize(Q8_0, randFloats(rng, rows*cols, 0.1))
	p := NewPool(3)
	defer p.Close()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		x := randFloats(rng, cols, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a Activation
			a.Prepare(x, Q8_0)
			want := make([]float32, rows)
			_ = MatVecPrepared(Q8_0, w, rows, cols, &a, want)
			got := make([]float32, rows)
			for i := 0; i < 20; i++ {
				if err := p.MatVec(Q8_0, w, rows, cols, &a, got); err != nil {
					t.Error(err)
					return
				}
				for r := range got {
					if got[r] != want[r] {
						t.Errorf("row %d: %v != %v", r, got[r], want[r])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestNoAllocations(t *testing.T) {
	for _, ks := range KernelSets() {
		t.Run(ks.Name(), func(t *testing.T) { testNoAllocations(t, NewPoolWith(2, ks)) })
	}
}

func testNoAllocations(t *testing.T, p *Pool) {
	rng := rand.New(rand.NewPCG(9, 10))
	const rows, cols = 128, 512
	defer p.Close()
	for _, typ := range kernelTypes {
		w, _ := Quantize(typ, randFloats(rng, rows*cols, 0.1))
		x := randFloats(rng, cols, 1)
		y := make([]float32, rows)
		var a Activation
		a.Prepare(x, typ)
		xs := []*Activation{&a, &a}
		ys := [][]float32{y, make([]float32, rows)}
		allocs := testing.AllocsPerRun(20, func() {
			a.Prepare(x, typ)
			if err := p.MatVec(typ, w, rows, cols, &a, y); err != nil {
				t.Fatal(err)
			}
			if err := p.MatMul(typ, w, rows, cols, xs, ys); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per Prepare+MatVec+MatMul", typ, allocs)
		}
	}
}

func TestQuantizeRoundTripError(t *testing.T) {
	// Sanity bounds on the relative RMS error of quantize→dequantize for
	// Gaussian data, from the bit widths (catches a grossly wrong packing
	// even where the golden inputs would not).
	rng := rand.New(rand.NewPCG(11, 12))
	x := randFloats(rng, 4096, 1)
	limits := map[Type]float64{F32: 0, F16: 0.001, BF16: 0.005, Q8_0: 0.01, Q4_0: 0.12, Q4_1: 0.1, Q5_0: 0.06,
		Q5_1: 0.05, Q2_K: 0.4, Q3_K: 0.2, Q4_K: 0.09, Q5_K: 0.05, Q6_K: 0.025, Q8_K: 0.01, Q8_1: 0.01}
	for typ, limit := range limits {
		b, err := Quantize(typ, x)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := Dequantize(typ, b, y); err != nil {
			t.Fatal(err)
		}
		var se, sx float64
		for i := range x {
			d := float64(x[i] - y[i])
			se += d * d
			sx += float64(x[i]) * float64(x[i])
		}
		if e := math.Sqrt(se / sx); e > limit {
			t.Errorf("%s: relative RMS error %.4f > %.4f", typ, e, limit)
		}
	}
}

func TestAsmMatchesGo(t *testing.T) {
	if !cpuFeatures.runs(levelAVX2) {
		t.Skip("no AVX2 kernels on this machine or build")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	const rows = 16
	tested := 0
	for _, typ := range kernelTypes {
		// more than one assembly chunk of 64 blocks, and a tail of 3 after
		// the groups of 8
		cols := 2656
		if typ.BlockSize() == QK_K {
			cols = 2560
		}
		fast, slow := typeInfos[typ].dotAVX2, goKernel(typ)
		if fast == nil {
			continue
		}
		tested++
		for trial := 0; trial < 4; trial++ {
			rs, _ := typ.RowSize(int64(cols))
			w := make([]byte, rows*int(rs))
			if trial%2 == 0 {
				w, _ = Quantize(typ, randFloats(rng, rows*cols, 0.1))
			} else {
				for i := range w { // any bytes, scales included
					w[i] = byte(rng.Uint32())
				}
			}
			var a Activation
			a.Rounding = Rounding(trial / 2)
			a.Prepare(randFloats(rng, cols, 3), typ)
			for r := 0; r < rows; r++ {
				row := w[r*int(rs) : (r+1)*int(rs)]
				if got, want := fast(row, &a), slow(row, &a); !sameOrBothNaN(got, want) {
					t.Fatalf("%s trial %d row %d: AVX2 %v, Go %v", typ, trial, r, got, want)
				}
			}
		}
	}
	if tested == 0 {
		t.Fatal("no assembly kernels registered")
	}
}

// FuzzQuantize checks that any float32 values (NaN, Inf, subnormals,
// huge) quantize to every type without a panic and dequantize again.
func FuzzQuantize(f *testing.F) {
	f.Add([]byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x7f, 1, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0x7f, 0x7f, 0, 0, 0x80, 0xff})
	types := []Type{F32, F16, BF16, Q8_0, Q8_1, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K}
	f.Fuzz(func(t *testing.T, data []byte) {
		x := make([]float32, QK_K)
		for i := range x {
			if 4*i+4 <= len(data) {
				x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			} else if len(data) > 0 {
				x[i] = float32(data[i%len(data)]) - 128
			}
		}
		for _, typ := range types {
			b, err := Quantize(typ, x)
			if err != nil {
				t.Fatal(typ, err)
			}
			if err := Dequantize(typ, b, make([]float32, len(x))); err != nil {
				t.Fatal(typ, err)
			}
		}
	})
}
