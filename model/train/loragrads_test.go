package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
)

// TestLoraGrads checks the register-blocked LoRA gradient sums against
// the axpy loop they replace: bit for bit on zero gradients, within
// float32 rounding on gradients that already hold a sum.
func TestLoraGrads(t *testing.T) {
	if !haveGemm() {
		t.Skip("no SIMD kernel")
	}
	r := rand.New(rand.NewPCG(4, 2))
	const n, rank, in, out = 37, 8, 48, 32
	m := &Model{threads: 2, pool: ggml.NewPool(2)}
	defer m.Close()
	u, du := randVec32(r, n*rank, 0, 1), randVec32(r, n*rank, 0, 1)
	dy, x := randVec32(r, n*out, 0, 1), randVec32(r, n*in, 0, 1)
	const s = 2.5
	for _, start := range []float64{0, 1} {
		want := &Pair{In: in, Out: out, A: randVec32(r, rank*in, 0, start), Bt: randVec32(r, rank*out, 0, start)}
		got := &Pair{In: in, Out: out, A: append([]float32(nil), want.A...), Bt: append([]float32(nil), want.Bt...)}
		for j := range rank {
			for t := range n {
				axpy(want.Bt[j*out:(j+1)*out], s*u[t*rank+j], dy[t*out:(t+1)*out])
				axpy(want.A[j*in:(j+1)*in], du[t*rank+j], x[t*in:(t+1)*in])
			}
		}
		if err := m.loraGrads(allocator{}, got, u, du, dy, x, n, rank, s); err != nil {
			t.Fatal(err)
		}
		for i, pr := range [][2][]float32{{got.A, want.A}, {got.Bt, want.Bt}} {
			for k, g := range pr[0] {
				w := pr[1][k]
				if start == 0 && math.Float32bits(g) != math.Float32bits(w) || math.Abs(float64(g-w)) > 1e-5*(1+math.Abs(float64(w))) {
					t.Fatalf("start %g: matrix %d [%d] = %g, want %g", start, i, k, g, w)
				}
			}
		}
	}
}
