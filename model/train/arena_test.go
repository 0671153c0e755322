package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/testmodel"
)

// TestArenaReuse checks that a training step whose buffers come from an
// arena that earlier steps filled (here with NaN, so that any value read
// before it is written shows) gives, bit for bit, the loss and gradient
// of the same step on a fresh model; and that a tape serves one backward
// pass, and a closed model refuses to run.
func TestArenaReuse(t *testing.T) {
	for _, c := range []struct {
		arch string
		typ  ggml.Type
	}{{"qwen3", ggml.Q8_0}, {"qwen2", ggml.F16}} {
		t.Run(c.arch+"/"+c.typ.String(), func(t *testing.T) {
			path := testmodel.Write(t, testmodel.Tiny(c.arch, c.typ, 1))
			used, fresh := open(t, path, 2), open(t, path, 2)
			r := rand.New(rand.NewPCG(5, 6))
			ad, err := NewAdapter(&used.Config, AllTargets, 4, 8, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ad.Params() {
				for i := range p {
					p[i] = float32(r.NormFloat64() * 0.05)
				}
			}
			seq := func(n, start int) Seq {
				toks := make([]int, n)
				for i := range toks {
					toks[i] = r.IntN(used.Config.Vocab)
				}
				return Seq{Tokens: toks, Start: start}
			}
			long := &Preference{Chosen: seq(30, 10), Rejected: seq(26, 10)}
			short := &Preference{Chosen: seq(19, 7), Rejected: seq(21, 7)}
			if _, err := used.Step(long, ad, ad.Zero(), LossSigmoid, 0.1, 1); err != nil {
				t.Fatal(err)
			}
			if len(used.tapes.chunks) == 0 {
				t.Fatal("the step took no buffers from the arena")
			}
			for _, a := range []*arena{&used.tapes, &used.passes} {
				for _, ch := range a.chunks {
					for i := range ch {
						ch[i] = float32(math.NaN())
					}
				}
			}
			var grads [2]*Adapter
			var res [2]PairResult
			for i, m := range []*Model{used, fresh} {
				if err := m.Reference(short); err != nil {
					t.Fatal(err)
				}
				grads[i] = ad.Zero()
				if res[i], err = m.Step(short, ad, grads[i], LossSigmoid, 0.1, 1); err != nil {
					t.Fatal(err)
				}
			}
			if res[0] != res[1] || math.IsNaN(res[0].Loss) {
				t.Fatalf("loss after reuse %+v, fresh %+v", res[0], res[1])
			}
			want := grads[1].Params()
			for i, p := range grads[0].Params() {
				for j, v := range p {
					if math.Float32bits(v) != math.Float32bits(want[i][j]) {
						t.Fatalf("gradient %d[%d] after reuse %g, fresh %g", i, j, v, want[i][j])
					}
				}
			}

			tp, err := used.Forward(short.Chosen, ad)
			if err != nil {
				t.Fatal(err)
			}
			if err := used.Backward(tp, ad, ad.Zero(), 1); err != nil {
				t.Fatal(err)
			}
			if err := used.Backward(tp, ad, ad.Zero(), 1); err == nil {
				t.Error("a tape ran a second backward pass")
			}
			used.Close()
			if _, err := used.LogProb(short.Chosen, ad); err == nil {
				t.Error("a closed model ran a forward pass")
			}
		})
	}
}
