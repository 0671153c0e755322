package reward

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/nlpodyssey/spago/ag"
	"github.com/nlpodyssey/spago/mat"
	"github.com/nlpodyssey/spago/nn"
	"github.com/nlpodyssey/spago/optimizers/adam"
)

// TrainOptions configure Train. Zero values take the defaults.
type TrainOptions struct {
	// Epochs is the most passes over the training pairs (default 100).
	Epochs int
	// Seed fixes the split, the initialization and the batch order: the
	// same data and seed give the same head.
	Seed uint64
	// Hidden is the width of a hidden ReLU layer; 0 trains a linear head.
	Hidden int
	// LearningRate is Adam's step size (default 0.003).
	LearningRate float64
	// WeightDecay is AdamW's decoupled decay (default 0.01; negative: none).
	WeightDecay float64
	// BatchSize is how many pairs or votes make one step (default 32).
	BatchSize int
	// HeldOut is the fraction of prompts kept out of training to measure
	// pair accuracy and stop early (default 0.1; negative: none). A
	// prompt's pairs and votes stay on one side.
	HeldOut float64
	// Patience stops training after this many epochs without a lower
	// held-out loss (default 10; negative: never), keeping the best epoch.
	Patience int
	// KTOWeight weighs a single vote against a pair (default 0.5;
	// negative: votes are not used).
	KTOWeight float64
	// OnEpoch, if set, is called after every epoch.
	OnEpoch func(EpochStats)
}

func (o *TrainOptions) defaults() {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		} else if *v < 0 {
			*v = 0
		}
	}
	if o.Epochs <= 0 {
		o.Epochs = 100
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 32
	}
	if o.Patience == 0 {
		o.Patience = 10
	}
	if o.LearningRate <= 0 {
		o.LearningRate = 0.003
	}
	def(&o.WeightDecay, 0.01)
	def(&o.HeldOut, 0.1)
	def(&o.KTOWeight, 0.5)
}

// EpochStats describe one epoch.
type EpochStats struct {
	Epoch     int     `json:"epoch"`
	Epochs    int     `json:"epochs"`
	TrainLoss float64 `json:"train_loss"`
	// HeldOutLoss and HeldOutAccuracy are NaN without held-out data.
	HeldOutLoss     float64 `json:"held_out_loss"`
	HeldOutAccuracy float64 `json:"held_out_accuracy"`
	// Best is true when this epoch is the best so far.
	Best bool `json:"best"`
}

// Report summarizes a training run; it is saved in the head.
type Report struct {
	Seed            uint64  `json:"seed"`
	TrainPairs      int     `json:"train_pairs"`
	TrainPoints     int     `json:"train_points"`
	HeldOutPairs    int     `json:"held_out_pairs"`
	HeldOutPoints   int     `json:"held_out_points"`
	Epochs          int     `json:"epochs"`
	BestEpoch       int     `json:"best_epoch"`
	TrainAccuracy   float64 `json:"train_accuracy"`
	HeldOutAccuracy float64 `json:"held_out_accuracy,omitempty"`
	HeldOutAUC      float64 `json:"held_out_auc,omitempty"`
}

// split holds indices into a FeatureSet's pairs and points.
type split struct{ pairs, points []int }

func splitSet(set FeatureSet, frac float64, rng *rand.Rand) (train, held split) {
	var groups []string
	seen := map[string]bool{}
	add := func(g string) {
		if !seen[g] {
			seen[g] = true
			groups = append(groups, g)
		}
	}
	for _, p := range set.Pairs {
		add(p.Group)
	}
	for _, p := range set.Points {
		add(p.Group)
	}
	slices.Sort(groups)
	rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	n := int(math.Round(frac * float64(len(groups))))
	if frac > 0 && n == 0 && len(groups) >= 2 {
		n = 1
	}
	n = min(n, len(groups)-1)
	out := map[string]bool{}
	for _, g := range groups[:max(n, 0)] {
		out[g] = true
	}
	for i, p := range set.Pairs {
		if out[p.Group] {
			held.pairs = append(held.pairs, i)
		} else {
			train.pairs = append(train.pairs, i)
		}
	}
	for i, p := range set.Points {
		if out[p.Group] {
			held.points = append(held.points, i)
		} else {
			train.points = append(train.points, i)
		}
	}
	return train, held
}

// trainer holds the head's parameters as spago params.
type trainer struct {
	d, hidden  int
	mean, std  []float64
	w, w1, w2  *nn.Param // linear: w; hidden: w1, w2, b2
	b2         *nn.Param
	params     []*nn.Param
	ktoWeight  float64
	backbone   Backbone
	featureBuf []float64
}

func newParam(rows, cols int, data []float64) *nn.Param {
	return nn.NewParam(mat.NewDense[float64](mat.WithShape(rows, cols), mat.WithBacking(data)))
}

// standardized appends x, standardized, and a 1 (the bias input) to dst.
func (t *trainer) standardized(dst []float64, x []float32) []float64 {
	for i, v := range x {
		dst = append(dst, (float64(v)-t.mean[i])/t.std[i])
	}
	return append(dst, 1)
}

// batchLoss builds the loss graph of a batch of pairs and points and
// returns it with the total weight of its items. Every parameter reaches
// the loss through one path, so gradients do not depend on the order in
// which spago's parallel backward pass adds them up.
func (t *trainer) batchLoss(set FeatureSet, pairs, points []int) (mat.Tensor, float64) {
	m := 2*len(pairs) + len(points)
	k := len(pairs) + len(points)
	x := t.featureBuf[:0]
	// neg[r] · scores = −(signed margin) of item r.
	neg := make([]float64, k*m)
	wts := make([]float64, k)
	row := 0
	for r, i := range pairs {
		p := set.Pairs[i]
		x = t.standardized(x, p.Chosen)
		x = t.standardized(x, p.Rejected)
		neg[r*m+row], neg[r*m+row+1] = -1, 1
		wts[r] = 1
		row += 2
	}
	for j, i := range points {
		p := set.Points[i]
		r := len(pairs) + j
		x = t.standardized(x, p.X)
		if p.Label {
			neg[r*m+row] = -1
		} else {
			neg[r*m+row] = 1
		}
		wts[r] = t.ktoWeight
		row++
	}
	t.featureBuf = x
	var total float64
	for _, w := range wts {
		total += w
	}
	for i := range wts {
		wts[i] /= total
	}
	X := mat.NewDense[float64](mat.WithShape(m, t.d+1), mat.WithBacking(slices.Clone(x)))
	scores := t.forward(X)
	u := ag.Mul(mat.NewDense[float64](mat.WithShape(k, m), mat.WithBacking(neg)), scores)
	sp := ag.SoftPlus(u, mat.Scalar(1.0), mat.Scalar(30.0))
	return ag.Dot(mat.NewDense[float64](mat.WithShape(k, 1), mat.WithBacking(wts)), sp), total
}

func (t *trainer) forward(X mat.Tensor) mat.Tensor {
	if t.hidden == 0 {
		return ag.Mul(X, t.w)
	}
	return ag.AddScalar(ag.Mul(ag.ReLU(ag.Mul(X, t.w1)), t.w2), t.b2)
}

// head snapshots the parameters as a Head.
func (t *trainer) head() *Head {
	h := &Head{
		Format: headFormat, Version: 1, Backbone: t.backbone,
		Mean: slices.Clone(t.mean), Std: slices.Clone(t.std), Hidden: t.hidden,
	}
	if t.hidden == 0 {
		h.W2 = slices.Clone(t.w.Data().F64())
	} else {
		h.W1 = slices.Clone(t.w1.Data().F64())
		h.W2 = slices.Clone(t.w2.Data().F64())
		h.B2 = t.b2.Item().F64()
	}
	return h
}

// Train fits a head to set (made with backbone's featurizer) and returns
// the head of the best epoch with its report.
func Train(ctx context.Context, set FeatureSet, backbone Backbone, opts TrainOptions) (*Head, Report, error) {
	opts.defaults()
	rep := Report{Seed: opts.Seed}
	if set.Dim <= 0 || set.Dim != backbone.Dim {
		return nil, rep, fmt.Errorf("%w: features have %d dimensions, the backbone %d", ErrInvalid, set.Dim, backbone.Dim)
	}
	if err := checkDims(set); err != nil {
		return nil, rep, err
	}
	if len(set.Pairs) == 0 && (len(set.Points) == 0 || opts.KTOWeight == 0) {
		return nil, rep, fmt.Errorf("%w: no preference pairs to train on", ErrInvalid)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x726577617264))
	train, held := splitSet(set, opts.HeldOut, rng)
	if opts.KTOWeight == 0 {
		train.points, held.points = nil, nil
	}
	if len(train.pairs)+len(train.points) == 0 {
		return nil, rep, fmt.Errorf("%w: nothing left to train on after the held-out split", ErrInvalid)
	}
	rep.TrainPairs, rep.TrainPoints = len(train.pairs), len(train.points)
	rep.HeldOutPairs, rep.HeldOutPoints = len(held.pairs), len(held.points)

	t := &trainer{d: set.Dim, hidden: opts.Hidden, ktoWeight: opts.KTOWeight, backbone: backbone}
	t.mean, t.std = moments(set, train)
	if t.hidden == 0 {
		t.w = newParam(t.d+1, 1, make([]float64, t.d+1))
		t.params = []*nn.Param{t.w}
	} else {
		w1 := make([]float64, (t.d+1)*t.hidden)
		for i := range w1 {
			w1[i] = rng.NormFloat64() * math.Sqrt(2/float64(t.d+1))
		}
		w2 := make([]float64, t.hidden)
		for i := range w2 {
			w2[i] = rng.NormFloat64() / math.Sqrt(float64(t.hidden))
		}
		t.w1, t.w2 = newParam(t.d+1, t.hidden, w1), newParam(t.hidden, 1, w2)
		t.b2 = nn.NewParam(mat.Scalar(0.0))
		t.params = []*nn.Param{t.w1, t.w2, t.b2}
	}
	cfg := adam.NewDefaultConfig()
	cfg.StepSize, cfg.Lambda = opts.LearningRate, opts.WeightDecay
	strategy := adam.New(cfg)

	type item struct {
		point bool
		i     int
	}
	var items []item
	for _, i := range train.pairs {
		items = append(items, item{false, i})
	}
	for _, i := range train.points {
		items = append(items, item{true, i})
	}
	hasHeld := len(held.pairs)+len(held.points) > 0
	best, bestLoss := t.head(), math.Inf(1)
	for epoch := 1; epoch <= opts.Epochs; epoch++ {
		rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		var sum, weight float64
		for start := 0; start < len(items); start += opts.BatchSize {
			if err := ctx.Err(); err != nil {
				return nil, rep, err
			}
			var pairs, points []int
			for _, it := range items[start:min(start+opts.BatchSize, len(items))] {
				if it.point {
					points = append(points, it.i)
				} else {
					pairs = append(pairs, it.i)
				}
			}
			loss, w := t.batchLoss(set, pairs, points)
			if err := ag.Backward(loss); err != nil {
				return nil, rep, fmt.Errorf("reward: backward: %w", err)
			}
			l := loss.Value().Item().F64()
			if math.IsNaN(l) || math.IsInf(l, 0) {
				return nil, rep, fmt.Errorf("reward: the loss diverged at epoch %d (lower the learning rate)", epoch)
			}
			// spago's optimizers.Optimizer returns before its goroutines
			// have updated the parameters (v1.1.0), so the steps are
			// taken here, one parameter after the other.
			for _, p := range t.params {
				if err := strategy.OptimizeParams(p); err != nil {
					return nil, rep, fmt.Errorf("reward: adam: %w", err)
				}
			}
			strategy.IncExample()
			sum += l * w
			weight += w
		}
		h := t.head()
		st := EpochStats{Epoch: epoch, Epochs: opts.Epochs, TrainLoss: sum / weight, HeldOutLoss: math.NaN(), HeldOutAccuracy: math.NaN()}
		rep.Epochs = epoch
		if hasHeld {
			m := evaluate(h, set, held, opts.KTOWeight)
			st.HeldOutLoss, st.HeldOutAccuracy = m.loss, m.accuracy
			if m.loss < bestLoss {
				bestLoss, best, rep.BestEpoch, st.Best = m.loss, h, epoch, true
			}
		} else {
			best, rep.BestEpoch, st.Best = h, epoch, true
		}
		if opts.OnEpoch != nil {
			opts.OnEpoch(st)
		}
		if hasHeld && opts.Patience > 0 && epoch-rep.BestEpoch >= opts.Patience {
			break
		}
	}
	rep.TrainAccuracy = evaluate(best, set, train, opts.KTOWeight).accuracy
	if hasHeld {
		m := evaluate(best, set, held, opts.KTOWeight)
		rep.HeldOutAccuracy, rep.HeldOutAUC = m.accuracy, m.auc
	}
	best.Training = rep
	return best, rep, nil
}

func checkDims(set FeatureSet) error {
	for i, p := range set.Pairs {
		if len(p.Chosen) != set.Dim || len(p.Rejected) != set.Dim {
			return fmt.Errorf("%w: pair %d has %d and %d features, want %d", ErrInvalid, i, len(p.Chosen), len(p.Rejected), set.Dim)
		}
	}
	for i, p := range set.Points {
		if len(p.X) != set.Dim {
			return fmt.Errorf("%w: vote %d has %d features, want %d", ErrInvalid, i, len(p.X), set.Dim)
		}
	}
	return nil
}

// moments are the mean and standard deviation of every feature over the
// training vectors; a constant feature gets deviation 1.
func moments(set FeatureSet, s split) (mean, std []float64) {
	mean, std = make([]float64, set.Dim), make([]float64, set.Dim)
	var n float64
	each := func(fn func(x []float32)) {
		for _, i := range s.pairs {
			fn(set.Pairs[i].Chosen)
			fn(set.Pairs[i].Rejected)
		}
		for _, i := range s.points {
			fn(set.Points[i].X)
		}
	}
	each(func(x []float32) {
		n++
		for i, v := range x {
			mean[i] += float64(v)
		}
	})
	for i := range mean {
		mean[i] /= n
	}
	each(func(x []float32) {
		for i, v := range x {
			d := float64(v) - mean[i]
			std[i] += d * d
		}
	})
	for i := range std {
		std[i] = math.Sqrt(std[i] / n)
		if std[i] < 1e-6 {
			std[i] = 1
		}
	}
	return mean, std
}

type metrics struct{ loss, accuracy, auc float64 }

// evaluate scores the pairs and points of s with h.
func evaluate(h *Head, set FeatureSet, s split, ktoWeight float64) metrics {
	var chosen, rejected, pos, neg []float64
	score := func(x []float32) float64 { r, _ := h.Score(x); return r }
	var loss, weight float64
	for _, i := range s.pairs {
		c, r := score(set.Pairs[i].Chosen), score(set.Pairs[i].Rejected)
		chosen, rejected = append(chosen, c), append(rejected, r)
		loss += softplus(r - c)
		weight++
	}
	for _, i := range s.points {
		r := score(set.Points[i].X)
		if set.Points[i].Label {
			pos = append(pos, r)
			loss += ktoWeight * softplus(-r)
		} else {
			neg = append(neg, r)
			loss += ktoWeight * softplus(r)
		}
		weight += ktoWeight
	}
	m := metrics{loss: loss / weight, accuracy: PairAccuracy(chosen, rejected)}
	m.auc = AUC(append(chosen, pos...), append(rejected, neg...))
	return m
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}
