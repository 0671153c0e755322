package ggml

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestBatchSharesConversions(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const rows, cols = 32, 512
	xs := [][]float32{randFloats(rng, cols, 1), randFloats(rng, cols, 1), randFloats(rng, cols, 1)}
	var b Batch
	b.Reset(xs)
	q50, err := b.For(Q5_0)
	if err != nil {
		t.Fatal(err)
	}
	q80, err := b.For(Q8_0) // same vec_dot type: the same prepared activations
	if err != nil {
		t.Fatal(err)
	}
	if &q50[0] != &q80[0] || q50[0] != q80[0] {
		t.Fatal("Q5_0 and Q8_0 weights did not share their Q8_0 activations")
	}
	q4k, err := b.For(Q4_K)
	if err != nil {
		t.Fatal(err)
	}
	if q4k[0].Type() != Q8_K || q50[0].Type() != Q8_0 {
		t.Fatalf("types %s, %s", q4k[0].Type(), q50[0].Type())
	}
	// results equal MatVec on the raw inputs
	p := NewPool(2)
	defer p.Close()
	for _, typ := range []Type{Q5_0, Q4_K, F16} {
		w, _ := Quantize(typ, randFloats(rng, rows*cols, 0.1))
		acts, err := b.For(typ)
		if err != nil {
			t.Fatal(err)
		}
		ys := [][]float32{make([]float32, rows), make([]float32, rows), make([]float32, rows)}
		if err := p.MatMul(typ, w, rows, cols, acts, ys); err != nil {
			t.Fatal(err)
		}
		for i, x := range xs {
			want := make([]float32, rows)
			if err := MatVec(typ, w, rows, cols, x, want); err != nil {
				t.Fatal(err)
			}
			for r := range want {
				if !sameBits(ys[i][r], want[r]) {
					t.Fatalf("%s input %d row %d: %v, MatVec %v", typ, i, r, ys[i][r], want[r])
				}
			}
		}
	}
	// a new batch is converted again, without allocating once warm
	xs2 := [][]float32{randFloats(rng, cols, 1), randFloats(rng, cols, 1), randFloats(rng, cols, 1)}
	allocs := testing.AllocsPerRun(10, func() {
		b.Reset(xs2)
		if _, err := b.For(Q8_0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per Reset+For", allocs)
	}
	again, _ := b.For(Q8_0)
	var direct Activation
	direct.Prepare(xs2[1], Q8_0)
	if string(again[1].Bytes()) != string(direct.Bytes()) {
		t.Fatal("Reset did not re-prepare the activations")
	}
	if _, err := b.For(Q2_K); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Q2_K: %v", err)
	}
	b.Reset([][]float32{make([]float32, 100)})
	if _, err := b.For(Q4_K); !errors.Is(err, ErrSize) {
		t.Errorf("100 inputs for Q4_K: %v", err)
	}
}

func TestBatchShrinksAfterLargerBatch(t *testing.T) {
	var b Batch
	big := [][]float32{make([]float32, 32), make([]float32, 32), make([]float32, 32)}
	b.Reset(big)
	if acts, err := b.For(Q8_0); err != nil || len(acts) != 3 {
		t.Fatalf("first batch: %d activations, %v", len(acts), err)
	}
	b.Reset(big[:1])
	for i := range 2 { // the second call finds the slot already prepared
		acts, err := b.For(Q8_0)
		if err != nil || len(acts) != 1 {
			t.Fatalf("call %d after a smaller Reset: got %d activations (%v), want 1", i, len(acts), err)
		}
	}
}
