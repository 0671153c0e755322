package reward

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nlpodyssey/spago/ag"
)

var testBackbone = Backbone{SHA256: "ab12", Name: "synthetic", Dim: 16, Feature: "test/v1"}

// synthPairs makes n pairs of random vectors whose preferred member is the
// one rule ranks higher; flip, when set, decides per pair whether to swap
// them (shuffled labels).
func synthPairs(n int, seed uint64, rule func(x []float32) float64, flip func(r *rand.Rand) bool) FeatureSet {
	r := rand.New(rand.NewPCG(seed, 1))
	vec := func() []float32 {
		x := make([]float32, testBackbone.Dim)
		for i := range x {
			x[i] = float32(r.NormFloat64()*2 + 0.5)
		}
		return x
	}
	set := FeatureSet{Dim: testBackbone.Dim}
	for i := range n {
		a, b := vec(), vec()
		if rule(a) < rule(b) {
			a, b = b, a
		}
		if flip != nil && flip(r) {
			a, b = b, a
		}
		set.Pairs = append(set.Pairs, FeaturePair{Chosen: a, Rejected: b, Group: string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + string(rune('0'+i/676))})
	}
	return set
}

func linearRule(x []float32) float64 { return float64(x[0] - 0.5*x[3] + 0.25*x[7]) }

func TestTrainLearnsLinearPreference(t *testing.T) {
	set := synthPairs(400, 1, linearRule, nil)
	var epochs []EpochStats
	h, rep, err := Train(context.Background(), set, testBackbone, TrainOptions{Seed: 7, Epochs: 60, OnEpoch: func(s EpochStats) { epochs = append(epochs, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.HeldOutPairs < 30 || rep.TrainPairs+rep.HeldOutPairs != 400 {
		t.Fatalf("split %d train / %d held out", rep.TrainPairs, rep.HeldOutPairs)
	}
	if rep.HeldOutAccuracy < 0.9 || rep.HeldOutAUC < 0.8 {
		t.Fatalf("held-out accuracy %.3f, AUC %.3f; want ≥ 0.9 and 0.8", rep.HeldOutAccuracy, rep.HeldOutAUC)
	}
	if len(epochs) == 0 || epochs[len(epochs)-1].TrainLoss >= epochs[0].TrainLoss || epochs[0].TrainLoss > math.Ln2 {
		t.Fatalf("training loss did not fall: %+v … %+v", epochs[0], epochs[len(epochs)-1])
	}
	// Fresh pairs from the same rule.
	fresh := synthPairs(200, 99, linearRule, nil)
	var c, r []float64
	for _, p := range fresh.Pairs {
		sc, _ := h.Score(p.Chosen)
		sr, _ := h.Score(p.Rejected)
		c, r = append(c, sc), append(r, sr)
	}
	if acc := PairAccuracy(c, r); acc < 0.9 {
		t.Fatalf("accuracy on fresh pairs %.3f", acc)
	}
}

func TestTrainOnShuffledLabelsStaysNearChance(t *testing.T) {
	set := synthPairs(400, 2, linearRule, func(r *rand.Rand) bool { return r.IntN(2) == 0 })
	_, rep, err := Train(context.Background(), set, testBackbone, TrainOptions{Seed: 7, Epochs: 60, HeldOut: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rep.HeldOutAccuracy-0.5) > 0.15 {
		t.Fatalf("held-out accuracy %.3f on shuffled labels, want about 0.5", rep.HeldOutAccuracy)
	}
}

func TestHiddenLayerLearnsWhatLinearCannot(t *testing.T) {
	// Preferred: the vector whose first feature is farther from 0.5 —
	// symmetric, so no linear score ranks it.
	rule := func(x []float32) float64 { return math.Abs(float64(x[0]) - 0.5) }
	set := synthPairs(600, 3, rule, nil)
	_, lin, err := Train(context.Background(), set, testBackbone, TrainOptions{Seed: 1, Epochs: 40, HeldOut: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	_, mlp, err := Train(context.Background(), set, testBackbone, TrainOptions{Seed: 1, Epochs: 80, HeldOut: 0.2, Hidden: 16, LearningRate: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if lin.HeldOutAccuracy > 0.7 || mlp.HeldOutAccuracy < 0.85 {
		t.Fatalf("held-out accuracy: linear %.3f (want ≤ 0.7), hidden layer %.3f (want ≥ 0.85)", lin.HeldOutAccuracy, mlp.HeldOutAccuracy)
	}
}

func TestTrainIsDeterministic(t *testing.T) {
	set := synthPairs(200, 4, linearRule, nil)
	set.Points = []FeaturePoint{{X: set.Pairs[0].Chosen, Label: true, Group: "v1"}, {X: set.Pairs[1].Rejected, Label: false, Group: "v2"}}
	run := func(seed uint64) string {
		h, _, err := Train(context.Background(), set, testBackbone, TrainOptions{Seed: seed, Epochs: 15, Hidden: 8})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(h)
		return string(b)
	}
	a, b, c := run(5), run(5), run(6)
	if a != b {
		t.Fatal("two runs with the same seed gave different heads")
	}
	if a == c {
		t.Fatal("different seeds gave the same head")
	}
}

// TestLossGraphMatchesDirectComputation checks spago's graph against the
// Bradley–Terry and logistic losses computed directly from Head.Score, and
// its gradient against finite differences of that direct loss.
func TestLossGraphMatchesDirectComputation(t *testing.T) {
	set := synthPairs(6, 5, linearRule, nil)
	set.Points = []FeaturePoint{{X: set.Pairs[0].Chosen, Label: true}, {X: set.Pairs[1].Chosen, Label: false}}
	for _, hidden := range []int{0, 4} {
		tr := &trainer{d: set.Dim, hidden: hidden, ktoWeight: 0.5, backbone: testBackbone}
		tr.mean, tr.std = moments(set, split{pairs: []int{0, 1, 2, 3, 4, 5}})
		r := rand.New(rand.NewPCG(9, 9))
		rnd := func(n int) []float64 {
			v := make([]float64, n)
			for i := range v {
				v[i] = r.NormFloat64() * 0.3
			}
			return v
		}
		if hidden == 0 {
			tr.w = newParam(set.Dim+1, 1, rnd(set.Dim+1))
		} else {
			tr.w1, tr.w2 = newParam(set.Dim+1, hidden, rnd((set.Dim+1)*hidden)), newParam(hidden, 1, rnd(hidden))
			tr.b2 = newParam(1, 1, []float64{0.2})
		}
		pairs, points := []int{0, 1, 2, 3, 4, 5}, []int{0, 1}
		direct := func(h *Head) float64 {
			var l float64
			for _, i := range pairs {
				c, _ := h.Score(set.Pairs[i].Chosen)
				rj, _ := h.Score(set.Pairs[i].Rejected)
				l -= math.Log(1 / (1 + math.Exp(-(c - rj))))
			}
			for _, i := range points {
				s, _ := h.Score(set.Points[i].X)
				if !set.Points[i].Label {
					s = -s
				}
				l -= 0.5 * math.Log(1/(1+math.Exp(-s)))
			}
			return l / (float64(len(pairs)) + 0.5*float64(len(points)))
		}
		loss, _ := tr.batchLoss(set, pairs, points)
		got := loss.Value().Item().F64()
		h := tr.head()
		if want := direct(h); math.Abs(got-want) > 1e-9 {
			t.Fatalf("hidden %d: graph loss %g, direct %g", hidden, got, want)
		}
		if err := ag.Backward(loss); err != nil {
			t.Fatal(err)
		}
		param, weights := tr.w, &h.W2
		if hidden > 0 {
			param, weights = tr.w1, &h.W1
		}
		grad := param.Grad().Data().F64()
		for _, i := range []int{0, 3, len(*weights) - 1} {
			old := (*weights)[i]
			(*weights)[i] = old + 1e-6
			up := direct(h)
			(*weights)[i] = old - 1e-6
			down := direct(h)
			(*weights)[i] = old
			if fd := (up - down) / 2e-6; math.Abs(fd-grad[i]) > 1e-5 {
				t.Fatalf("hidden %d: gradient[%d] = %g, finite difference %g", hidden, i, grad[i], fd)
			}
		}
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	if _, _, err := Train(ctx, FeatureSet{Dim: 16}, testBackbone, TrainOptions{}); err == nil {
		t.Fatal("no error without pairs")
	}
	set := synthPairs(10, 1, linearRule, nil)
	set.Pairs[3].Chosen = set.Pairs[3].Chosen[:5]
	if _, _, err := Train(ctx, set, testBackbone, TrainOptions{}); err == nil {
		t.Fatal("no error for a short vector")
	}
	if _, _, err := Train(ctx, synthPairs(10, 1, linearRule, nil), Backbone{Dim: 8}, TrainOptions{}); err == nil {
		t.Fatal("no error for a backbone of another size")
	}
}

func TestAUCAndAccuracy(t *testing.T) {
	if got := AUC([]float64{3, 4}, []float64{1, 2}); got != 1 {
		t.Fatalf("AUC %g, want 1", got)
	}
	if got := AUC([]float64{1, 3}, []float64{2, 2}); got != 0.5 {
		t.Fatalf("AUC %g, want 0.5", got)
	}
	if got := AUC([]float64{1}, []float64{1}); got != 0.5 {
		t.Fatalf("AUC of a tie %g, want 0.5", got)
	}
	if got := PairAccuracy([]float64{1, 2, 3}, []float64{0, 2, 4}); math.Abs(got-0.5) > 1e-12 {
		t.Fatalf("accuracy %g, want 0.5", got)
	}
	if !math.IsNaN(AUC(nil, []float64{1})) || !math.IsNaN(PairAccuracy(nil, nil)) {
		t.Fatal("empty input is not NaN")
	}
}
