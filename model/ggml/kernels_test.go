package ggml

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// packingOf is t's packed layout in the fastest set this CPU runs, or nil.
func packingOf(t Type) *packing { return BestKernels().kernelsFor(t).pack }

func TestKernelSets(t *testing.T) {
	sets := KernelSets()
	if len(sets) == 0 || sets[len(sets)-1].Name() != "go" {
		t.Fatalf("kernel sets %v: want the pure-Go set last", sets)
	}
	if BestKernels() != sets[0] {
		t.Errorf("BestKernels is %s, want the first set %s", BestKernels(), sets[0])
	}
	var names []string
	for _, ks := range sets {
		names = append(names, ks.Name())
		got, err := KernelsByName(ks.Name())
		if err != nil || got != ks {
			t.Errorf("KernelsByName(%q) = %v, %v", ks.Name(), got, err)
		}
	}
	// what each set holds follows from its name
	want := map[string]func(*Kernels) bool{
		"avx512-vnni packed": func(k *Kernels) bool { return k.level == levelVNNI && k.mat && k.packed },
		"avx512-vnni":        func(k *Kernels) bool { return k.level == levelVNNI && k.mat && !k.packed },
		"avx-vnni packed":    func(k *Kernels) bool { return k.level == levelAVX2 && k.mat && k.packed && k.avxVNNI },
		"avx2 packed":        func(k *Kernels) bool { return k.level == levelAVX2 && k.mat && k.packed && !k.avxVNNI },
		"avx2":               func(k *Kernels) bool { return k.level == levelAVX2 && k.mat && !k.packed },
		"avx2 rows":          func(k *Kernels) bool { return k.level == levelAVX2 && !k.mat && !k.packed },
		"neon-i8mm":          func(k *Kernels) bool { return k.level == levelNEONI8MM && k.mat && !k.packed },
		"neon-dotprod":       func(k *Kernels) bool { return k.level == levelNEONDot && !k.mat && !k.packed },
		"go":                 func(k *Kernels) bool { return k.level == levelGo && !k.mat && !k.packed },
	}
	for _, ks := range sets {
		if check := want[ks.Name()]; check == nil || !check(ks) || ks.avxVNNI && !ks.packed {
			t.Errorf("set %q: level %s, matrix kernels %v, packed %v", ks.Name(), ks.level, ks.mat, ks.packed)
		}
		for _, typ := range kernelTypes {
			k := ks.kernelsFor(typ)
			if k.dot == nil {
				t.Errorf("%s: no row kernel for %s", ks, typ)
			}
			if k.pack != nil && !ks.packed || k.mat != nil && !ks.mat {
				t.Errorf("%s: %s has a packed layout or matrix kernel the set does not run", ks, typ)
			}
		}
	}
	switch lv := cpuFeatures.matLevel(); lv {
	case levelVNNI:
		if !slices.Contains(names, "avx512-vnni packed") || !slices.Contains(names, "avx2") {
			t.Errorf("an AVX-512 VNNI CPU runs %v", names)
		}
		fallthrough
	case levelAVX2:
		if !slices.Contains(names, "avx2 packed") || slices.Contains(names, "avx-vnni packed") != cpuFeatures.avxVNNI {
			t.Errorf("an AVX2 CPU (AVX-VNNI %v) runs %v", cpuFeatures.avxVNNI, names)
		}
	case levelGo:
		if len(names) != 1 {
			t.Errorf("without assembly: sets %v, want only go", names)
		}
	}
	if _, err := KernelsByName("neon"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"go"`) {
		t.Errorf("KernelsByName(neon) = %v, want ErrUnsupported listing the sets", err)
	}
	if p := NewPool(1); p.Kernels() != BestKernels() {
		t.Errorf("NewPool runs %s, want %s", p.Kernels(), BestKernels())
	} else {
		p.Close()
	}
	paths := KernelPaths()
	if len(paths) != 3 || paths[0] != "matmul "+BestKernels().Name() || !strings.HasPrefix(paths[1], "attention ") || !strings.HasPrefix(paths[2], "quantize ") {
		t.Errorf("KernelPaths() = %q", paths)
	}
}

// TestSetVectorKernels checks that each set carries the attention kernels
// and activation quantizer of its level (the AVX2 sets run no AVX-512, the
// pure-Go set none at all) and that the set's ScoresF16, AccumulateF16
// and Prepare give the pure-Go results bit for bit.
func TestSetVectorKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const dim, n = 64, 40
	kT := attnHalves(rng, dim*n, 1)
	values := attnHalves(rng, n*dim, 1)
	q := make([]float32, dim)
	FromF16(q, attnHalves(rng, dim, 2))
	p := randFloats(rng, n, 1)
	x := randFloats(rng, 4*32, 3)
	wantS := make([]float32, n)
	scoresF16Go(wantS, kT, n, q, 0.125)
	wantA := make([]float64, dim)
	accumulateF16Go(wantA, values, dim, p)
	wantQ := Activation{Rounding: RoundRef} // the reference rounding has the assembly quantizers
	wantQ.prepare(x, Q8_0, vecGo)
	for _, ks := range KernelSets() {
		switch {
		case ks.level == levelGo && (ks.attn != vecGo || ks.q8 != vecGo || ks.VectorBits() != 0),
			ks.level == levelAVX2 && (ks.attn > vecAVX2 || ks.q8 > vecAVX2 || ks.VectorBits() > 256):
			t.Errorf("set %s: attention %s, quantizer %s, %d-bit vectors", ks, ks.attn, ks.q8, ks.VectorBits())
		}
		gotS := make([]float32, n)
		ks.ScoresF16(gotS, kT, n, q, 0.125)
		gotA := make([]float64, dim)
		ks.AccumulateF16(gotA, values, dim, p)
		gotQ := Activation{Rounding: RoundRef}
		ks.Prepare(&gotQ, x, Q8_0)
		for i := range wantS {
			if math.Float32bits(gotS[i]) != math.Float32bits(wantS[i]) {
				t.Fatalf("set %s: ScoresF16[%d] = %v, Go %v", ks, i, gotS[i], wantS[i])
			}
		}
		for i := range wantA {
			if math.Float64bits(gotA[i]) != math.Float64bits(wantA[i]) {
				t.Fatalf("set %s: AccumulateF16[%d] = %v, Go %v", ks, i, gotA[i], wantA[i])
			}
		}
		if !slices.Equal(gotQ.qs, wantQ.qs) || !slices.Equal(gotQ.d, wantQ.d) || !slices.Equal(gotQ.nsq, wantQ.nsq) {
			t.Fatalf("set %s: Prepare differs from the Go quantizer", ks)
		}
	}
}

// TestTypeRecords checks the records against ggml's block sizes and
// vec_dot types (ggml-cpu.c type_traits_cpu), which Known, BlockSize,
// TypeSize, VecDotType and the kernels read.
func TestTypeRecords(t *testing.T) {
	for _, c := range []struct {
		t          Type
		bs, ts     int
		vecDot     Type
		hasKernels bool
	}{
		{F32, 1, 4, F32, true}, {F16, 1, 2, F16, true}, {BF16, 1, 2, BF16, true},
		{Q4_0, 32, 18, Q8_0, true}, {Q4_1, 32, 20, Q8_1, true}, {Q5_0, 32, 22, Q8_0, true}, {Q5_1, 32, 24, Q8_1, true},
		{Q8_0, 32, 34, Q8_0, true}, {Q8_1, 32, 36, 0, false},
		{Q2_K, 256, 84, 0, false}, {Q3_K, 256, 110, 0, false}, {Q4_K, 256, 144, Q8_K, true},
		{Q5_K, 256, 176, Q8_K, true}, {Q6_K, 256, 210, Q8_K, true}, {Q8_K, 256, 292, 0, false},
	} {
		if !c.t.Known() || c.t.BlockSize() != c.bs || c.t.TypeSize() != c.ts {
			t.Errorf("%s: known %v, block %d×%d bytes, want %d×%d", c.t, c.t.Known(), c.t.BlockSize(), c.t.TypeSize(), c.bs, c.ts)
		}
		vt, ok := VecDotType(c.t)
		if ok != c.hasKernels || ok && vt != c.vecDot {
			t.Errorf("%s: VecDotType %s, %v; want %s, %v", c.t, vt, ok, c.vecDot, c.hasKernels)
		}
		if info := typeInfos[c.t]; info.quantize == nil || info.dequantize == nil {
			t.Errorf("%s: no quantizer or dequantizer", c.t)
		}
	}
	if len(typeInfos) != 15 {
		t.Errorf("%d type records, want the 15 above", len(typeInfos))
	}
	// the lists other packages show and check come from the records
	if got, want := fmt.Sprint(Types()), "[F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K BF16]"; got != want {
		t.Errorf("Types() = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(MatMulTypes()), "[F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K BF16]"; got != want {
		t.Errorf("MatMulTypes() = %s, want %s", got, want)
	}
	for t2 := range typeInfos {
		if t2 >= typeSlots {
			t.Errorf("type %d is beyond the %d slots Types and Kernels read", t2, typeSlots)
		}
	}
	if Type(4).Known() || Type(4).BlockSize() != 0 || Type(99).String() != "type(99)" {
		t.Error("an unknown type looks known")
	}
}

// TestPoolRefusesPackedWithoutLayout: a pool whose set has no packed
// layout refuses a packed product rather than reading the bytes in file
// layout.
func TestPoolRefusesPackedWithoutLayout(t *testing.T) {
	sets := KernelSets()
	goSet := sets[len(sets)-1]
	p := NewPoolWith(1, goSet)
	defer p.Close()
	w := make([]byte, 16*34*2)
	a := &Activation{}
	a.Prepare(make([]float32, 64), Q8_0)
	if goSet.Packable(Q8_0, 16, 64) {
		t.Fatal("the pure-Go set has a packed layout")
	}
	err := p.MatMulPacked(Q8_0, w, 16, 64, []*Activation{a}, [][]float32{make([]float32, 16)})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("MatMulPacked in the go set: %v, want ErrUnsupported", err)
	}
	if err := p.Pack(Q8_0, make([]byte, len(w)), w, 16, 64); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Pack in the go set: %v, want ErrUnsupported", err)
	}
}
