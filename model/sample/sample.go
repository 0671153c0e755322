// Package sample picks the next token from a model's logits: greedy,
// temperature, top-k, top-p, min-p and a repetition penalty, in the order
// llama.cpp's default sampler chain applies them, with a seeded random
// source so that the same seed and input give the same text.
package sample

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// Params are the sampling parameters. The zero value is greedy decoding.
type Params struct {
	// Temperature divides the logits; 0 or less means greedy (argmax).
	Temperature float64
	// TopK keeps the k most likely tokens; 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// sum reaches p; 0 or 1 keeps all.
	TopP float64
	// MinP drops tokens less likely than MinP times the most likely one;
	// 0 keeps all.
	MinP float64
	// RepeatPenalty (>1 discourages repetition; 0 or 1 is off) is applied
	// to the logits of tokens among the last RepeatLastN of the history,
	// as llama.cpp does: positive logits are divided by it, negative ones
	// multiplied.
	RepeatPenalty float64
	// RepeatLastN is how far back the penalty looks; 0 means 64, a
	// negative value the whole history (llama.cpp's -1).
	RepeatLastN int
	// Seed seeds the random source.
	Seed uint64
}

// Greedy reports whether p always picks the most likely token.
func (p Params) Greedy() bool { return p.Temperature <= 0 }

// Sampler picks tokens. It is not safe for concurrent use. Once its
// buffers have grown to the vocabulary and the penalty window, Sample
// does not allocate.
type Sampler struct {
	p      Params
	pcg    *rand.PCG
	rng    *rand.Rand
	cand   []candidate
	items  []uint64 // radix sort: order keys and ids, and the scratch half
	counts [radixPasses][1 << radixBits]uint32
	tail   [tailBuckets]uint32 // logits by distance below the best or min-p's limit
	// bucketSums sums the temperature's terms by distance below the best.
	bucketSums [tailBuckets]float64
	recent     []int // the penalty window, sorted to visit each id once
	// fullSorts counts the draws that radix sorted every candidate: a
	// +Inf logit, or a shortcut that could not prove its answer equal to
	// the full sort's (tests read it).
	fullSorts int
}

type candidate struct {
	id    int
	logit float32
	p     float64
}

// New returns a sampler for p.
func New(p Params) *Sampler {
	s := &Sampler{pcg: new(rand.PCG)}
	s.rng = rand.New(s.pcg)
	s.Reset(p)
	return s
}

// Reset makes s what New(p) returns, keeping its buffers (a vocabulary's
// worth of candidates), so that a sampler reused across requests does not
// allocate them again.
func (s *Sampler) Reset(p Params) {
	if p.RepeatLastN == 0 {
		p.RepeatLastN = 64
	}
	s.p = p
	s.pcg.Seed(p.Seed, p.Seed^0x9e3779b97f4a7c15)
}

// maxHeapK is the largest top-k selected with a heap; a larger k is
// selected by histogram, which is cheaper than a heap that big.
const maxHeapK = 1024

// Sample returns the next token id. logits is modified only when a
// repetition penalty applies. history holds the tokens so far (prompt and
// answer), oldest first.
//
// The chain is top-k, then top-p, then min-p on the candidates sorted by
// logit (ties by id), then temperature and a draw, as llama.cpp applies
// them. The vocabulary is never sorted with comparisons: top-k up to
// maxHeapK keeps a heap of k, a larger one sorts the histogram buckets
// that hold the k best; min-p keeps only the logits within ln(min_p) of
// the best and sorts those; top-p alone sorts the buckets that hold the
// nucleus; with no cut at all only the bucket the draw lands in is
// sorted; anything else (+Inf logits, a draw or cut too close to call) is
// radix sorted whole. Whatever the
// shortcut, the token is the one the plain chain (sort everything, then
// cut) picks for the same seed: where a shortcut's sums, added in another
// order, could round to the other side of a cut, it gives way to the
// full sort.
func (s *Sampler) Sample(logits []float32, history []int) int {
	if len(logits) == 0 {
		return -1
	}
	s.penalize(logits, history)
	if s.p.Greedy() {
		return Argmax(logits)
	}
	k := s.p.TopK
	if k > 0 && k <= maxHeapK {
		// The k best, or every valid logit if there are no more than k:
		// either way what the chain cuts from, sorted as it sorts them.
		c := s.keepBestOf(logits, k)
		if len(c) == 0 {
			return Argmax(logits)
		}
		slices.SortFunc(c, order)
		return s.chain(c, s.rng.Float64())
	}
	best, n := bestValid(logits)
	if n == 0 {
		return Argmax(logits)
	}
	// One draw per token, whichever way the token is found.
	r := s.rng.Float64()
	topK := k > 0 && k < n
	// +Inf turns the arithmetic into NaNs, which only the plain chain
	// follows; ids must fit the radix items.
	short := !topK && !math.IsInf(float64(logits[best]), 1) && len(logits) <= math.MaxUint32
	p := s.p.TopP
	switch {
	case topK && !math.IsInf(float64(logits[best]), 1) && len(logits) <= math.MaxUint32:
		return s.chain(s.bestByHistogram(logits, best, k), r)
	case short && s.p.MinP > 0:
		if c, ok := s.minPHead(logits, best, n); ok {
			return s.pick(c, r)
		}
	case short && p > 0 && p < 1:
		if c, ok := s.nucleusHead(logits, best, n, p); ok {
			return s.pick(c, r)
		}
	case short:
		if id, ok := s.pickBucketed(logits, best, n, r); ok {
			return id
		}
	}
	s.fullSorts++
	var c []candidate
	if len(logits) <= math.MaxUint32 {
		c = s.sortAll(logits, n)
	} else {
		c = s.buffer(n)
		for i, l := range logits {
			if valid(l) {
				c = append(c, candidate{id: i, logit: l})
			}
		}
		slices.SortFunc(c, order)
	}
	if topK {
		c = c[:k]
	}
	return s.chain(c, r)
}

// chain applies top-p and min-p to c, sorted best first, and draws with r.
func (s *Sampler) chain(c []candidate, r float64) int {
	c = topP(c, s.p.TopP)
	c = minP(c, s.p.MinP)
	return s.pick(c, r)
}

// pick draws from c, sorted best first, at the sampler's temperature:
// the first candidate whose cumulative probability exceeds r.
func (s *Sampler) pick(c []candidate, r float64) int {
	softmax(c, s.p.Temperature)
	acc := 0.0
	for _, x := range c {
		acc += x.p
		if r < acc {
			return x.id
		}
	}
	return c[len(c)-1].id
}

// pickBucketed is pick over every valid logit (neither top-k, top-p nor
// min-p) without sorting them all: the temperature's terms are summed by
// histogram bucket of distance from the best, and only the bucket where
// the cumulative sum passes r is sorted. Rounding makes the sums differ
// from the sorted ones by less than nucleusMargin (the argument of
// nucleusWithin); ok is false when the draw falls too close to a
// boundary to tell, or the arithmetic is not finite.
func (s *Sampler) pickBucketed(logits []float32, best, n int, r float64) (id int, ok bool) {
	t := s.p.Temperature
	top := float64(logits[best])
	topT := top / t // as softmax computes it
	if math.IsInf(topT, 0) || math.IsNaN(topT) {
		return 0, false
	}
	sums := &s.bucketSums
	*sums = [tailBuckets]float64{}
	sum := 0.0
	for _, l := range logits {
		if !valid(l) {
			continue
		}
		e := math.Exp(float64(l)/t - topT)
		sum += e
		sums[bucketOf(top-float64(l))] += e
	}
	margin := nucleusMargin(n)
	target := r * sum
	cum, j := 0.0, 0
	for ; j < tailBuckets; j++ {
		if cum+sums[j] > target {
			break
		}
		cum += sums[j]
	}
	if j == tailBuckets || cum/sum > r-margin {
		return 0, false
	}
	c := s.buffer(len(logits))
	for i, l := range logits {
		if valid(l) && bucketOf(top-float64(l)) == j {
			c = append(c, candidate{id: i, logit: l})
		}
	}
	c = s.sortIDOrdered(c, logits)
	acc := cum
	for _, x := range c {
		acc += math.Exp(float64(x.logit)/t - topT)
		switch v := acc / sum; {
		case v <= r-margin:
		case v > r+margin:
			return x.id, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// bucketOf is the histogram bucket of a valid logit d (≥ 0) below the
// best or min-p's limit: the larger d, the later the bucket, so buckets
// hold runs of the sorted logits.
func bucketOf(d float64) int {
	if d < tailBuckets/tailScale {
		return int(d * tailScale)
	}
	return tailBuckets - 1
}

// valid reports whether a logit can be sampled: not NaN, not -Inf.
func valid(l float32) bool { return l == l && l >= -math.MaxFloat32 }

// bestValid returns the index of the best valid logit (the first of the
// largest) and how many logits are valid.
func bestValid(logits []float32) (best, n int) {
	best = -1
	for i, l := range logits {
		if !valid(l) {
			continue
		}
		if best < 0 || l > logits[best] {
			best = i
		}
		n++
	}
	return best, n
}

// The histograms: the logits below the best (or min-p's limit), by how
// far below, in buckets of 1/tailScale, the last one holding everything
// further.
const (
	tailScale   = 16
	tailBuckets = 1024
)

// tailExp[j] is exp(-j/tailScale).
var tailExp = func() (t [tailBuckets + 1]float64) {
	for j := range t {
		t[j] = math.Exp(-float64(j) / tailScale)
	}
	return t
}()

// bestByHistogram returns the k best valid logits (fewer than there are),
// sorted, sorting only the histogram buckets, by distance from the best,
// that hold them. Counting needs no rounding argument: the buckets up to
// the one where the count reaches k hold the first k of the sorted
// vocabulary and then some.
func (s *Sampler) bestByHistogram(logits []float32, best, k int) []candidate {
	top := float64(logits[best])
	hist := &s.tail
	*hist = [tailBuckets]uint32{}
	for _, l := range logits {
		if valid(l) {
			hist[bucketOf(top-float64(l))]++
		}
	}
	last, count := 0, 0
	for ; last < tailBuckets-1; last++ {
		if count += int(hist[last]); count >= k {
			break
		}
	}
	c := s.buffer(len(logits))
	for i, l := range logits {
		if valid(l) && bucketOf(top-float64(l)) <= last {
			c = append(c, candidate{id: i, logit: l})
		}
	}
	return s.sortIDOrdered(c, logits)[:k]
}

// minPHead returns the candidates that survive top-p and min-p when there
// is no top-k, sorted best first, without sorting the rest: min-p keeps
// exactly the logits at or above best + ln(min_p), a prefix of the sorted
// vocabulary, and top-p can only cut inside that prefix. Top-p's sums run
// over the whole vocabulary in sorted order, which is not available here,
// so the cut is decided from bounds on that sum (see nucleusWithin); ok is
// false when they cannot decide it and the caller must sort everything.
func (s *Sampler) minPHead(logits []float32, best, n int) (c []candidate, ok bool) {
	top := float64(logits[best])
	limit := top + math.Log(s.p.MinP)
	c = s.buffer(len(logits))
	p := s.p.TopP
	if !(p > 0 && p < 1) {
		for i, l := range logits {
			if float64(l) >= limit {
				c = append(c, candidate{id: i, logit: l})
			}
		}
		return s.head(c, logits, best), true
	}
	hist := &s.tail
	*hist = [tailBuckets]uint32{}
	for i, l := range logits {
		switch d := limit - float64(l); {
		case d <= 0:
			c = append(c, candidate{id: i, logit: l})
		case valid(l):
			hist[bucketOf(d)]++
		}
	}
	c = s.head(c, logits, best)
	if len(c) == 1 {
		return c, true
	}
	f, ok := s.nucleusWithin(logits, c, n, p, math.Exp(limit-top), 0, true)
	return c[:f], ok
}

// head sorts the candidates at or above min-p's limit; if there are none
// (min_p > 1), the chain keeps the best alone.
func (s *Sampler) head(c []candidate, logits []float32, best int) []candidate {
	if len(c) == 0 {
		return append(c, candidate{id: best, logit: logits[best]})
	}
	return s.sortIDOrdered(c, logits)
}

// nucleusHead returns the candidates that survive top-p when there is
// neither top-k nor min-p, sorted best first, sorting only the logits in
// the buckets of a histogram by distance from the best that reach p
// (bounding each bucket's terms by its edges). ok is false when the cut
// cannot be decided without the full sort (see nucleusWithin).
func (s *Sampler) nucleusHead(logits []float32, best, n int, p float64) (c []candidate, ok bool) {
	top := float64(logits[best])
	hist := &s.tail
	*hist = [tailBuckets]uint32{}
	for _, l := range logits {
		if valid(l) {
			hist[bucketOf(top-float64(l))]++
		}
	}
	// The sum of all terms is at most hi; the first buckets whose terms
	// add up to more than p·hi, with room for every rounding, hold the
	// cut. (Bucket 0 holds the best, whose term is 1: hi ≥ 1.)
	_, hi := s.tailBounds(0, 1)
	need := (p + 1e-6 + 2*nucleusMargin(n)) * hi
	last, lo := 0, 0.0
	for ; last < tailBuckets-1; last++ {
		lo += float64(hist[last]) * tailExp[last+1] * (1 - 1e-9)
		if lo >= need {
			break
		}
	}
	c = s.buffer(len(logits))
	for i, l := range logits {
		if valid(l) && bucketOf(top-float64(l)) <= last {
			c = append(c, candidate{id: i, logit: l})
		}
	}
	c = s.sortIDOrdered(c, logits)
	f, ok := s.nucleusWithin(logits, c, n, p, 1, last+1, false)
	return c[:f], ok
}

// nucleusMargin is how far apart two computations of one top-p prefix
// total over n terms can be (see nucleusWithin).
func nucleusMargin(n int) float64 { return float64(4*n+16) * 0x1p-52 }

// nucleusWithin returns how many of head, the best len(head) of the n
// valid logits sorted, top-p keeps (capped at len(head) if capped; if not,
// the cut must fall inside head), or ok false when rounding could make the
// sorted computation decide differently. s.tail holds a histogram of the
// other logits, from bucket from on, by distance from base = exp(ref -
// best) for some reference logit ref.
//
// topP divides each e = exp(l - best) by their sum S, added in sorted
// order, and adds the quotients in sorted order until they reach p. Every
// sum of m non-negative terms is within γ(m) = m·u/(1-m·u) (u = 2⁻⁵³) of
// the exact one, relatively, whatever the order (Higham, Accuracy and
// Stability of Numerical Algorithms, §4.2), and each quotient adds u: a
// running total computed from any S' within γ(n) of S is, like the sorted
// one, within (2n+2)u of the exact fraction (at most 1). A prefix whose
// total is more than twice that away from p is on the same side of p in
// both. First S is bounded from the head's terms and the histogram; only
// if that leaves the cut open is every logit's exp added up.
func (s *Sampler) nucleusWithin(logits []float32, head []candidate, n int, p, base float64, from int, capped bool) (f int, ok bool) {
	top := float64(head[0].logit)
	sumHead := 0.0
	for i := range head {
		head[i].p = math.Exp(float64(head[i].logit) - top)
		sumHead += head[i].p
	}
	margin := nucleusMargin(n)
	lo, hi := s.tailBounds(from, base)
	f, ok = nucleusCut(head, p, margin, sumHead+lo, sumHead+hi, capped)
	if ok {
		return f, true
	}
	sum := 0.0
	for _, l := range logits {
		if l == l { // exp(-Inf) adds nothing
			sum += math.Exp(float64(l) - top)
		}
	}
	return nucleusCut(head, p, margin, sum, sum, capped)
}

// tailBounds bounds the sum of the terms in the histogram's buckets from
// from on: bucket j's terms lie in base·[tailExp[j+1], tailExp[j]], the
// last bucket's in base·[0, tailExp[j]], but for the rounding of the
// distances (relative u, at most 64) and of base's exponent (at most 745
// or so): exponents off by < 1e-13, which the factors 1 ± 1e-9 cover many
// times over. Where base is subnormal the absolute errors, < 1e-300, are
// nothing beside a sum of at least 1.
func (s *Sampler) tailBounds(from int, base float64) (lo, hi float64) {
	for j := from; j < tailBuckets; j++ {
		count := float64(s.tail[j])
		if count == 0 {
			continue
		}
		if j < tailBuckets-1 {
			lo += count * tailExp[j+1]
		}
		hi += count * tailExp[j]
	}
	return lo * base * (1 - 1e-9), hi * base * (1 + 1e-9)
}

// nucleusCut returns where top-p cuts head, whose p fields hold the
// terms, given that the sum of all terms lies in [lo, hi]: the first
// prefix whose fraction surely reaches p, or, if capped, len(head) when
// the prefixes before the last surely fall short. ok is false if a prefix
// is too close to p to tell, or if not capped and even the whole head
// falls short.
func nucleusCut(head []candidate, p, margin, lo, hi float64, capped bool) (f int, ok bool) {
	acc := 0.0
	for i := range head {
		if capped && i == len(head)-1 {
			return len(head), true
		}
		acc += head[i].p
		switch {
		case acc/lo < p-margin:
		case acc/hi >= p+margin:
			return i + 1, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// buffer returns s.cand emptied, with room for n candidates.
func (s *Sampler) buffer(n int) []candidate {
	if cap(s.cand) < n {
		s.cand = make([]candidate, 0, n)
	}
	return s.cand[:0]
}

// keepBestOf returns the k best valid logits as candidates, in no
// particular order, or all of them if there are no more than k: a heap
// whose root is the worst candidate kept. Logits are visited in id order,
// so a later one equal to the root is never better (ties go to the lower
// id) and only a strictly larger logit replaces it.
func (s *Sampler) keepBestOf(logits []float32, k int) []candidate {
	h := s.buffer(k)
	i := 0
	for ; i < len(logits) && len(h) < k; i++ {
		if valid(logits[i]) {
			h = append(h, candidate{id: i, logit: logits[i]})
		}
	}
	if i == len(logits) {
		return h
	}
	for j := k/2 - 1; j >= 0; j-- {
		siftDown(h, j)
	}
	worst := h[0].logit
	for j, l := range logits[i:] {
		if l > worst {
			h[0] = candidate{id: i + j, logit: l}
			siftDown(h, 0)
			worst = h[0].logit
		}
	}
	return h
}

// better orders candidates: higher logit first, lower id on ties.
func better(a, b candidate) bool {
	if a.logit != b.logit {
		return a.logit > b.logit
	}
	return a.id < b.id
}

// order is better as a comparison function for slices.SortFunc (which,
// unlike sort.Slice, does not allocate).
func order(a, b candidate) int {
	if a.logit != b.logit {
		return -cmp.Compare(a.logit, b.logit)
	}
	return cmp.Compare(a.id, b.id)
}

// keepBest moves the k best candidates (by better) to the front of c, in
// no particular order, and returns them: O(n log k) with a heap whose root
// is the worst candidate kept, instead of sorting the whole vocabulary.
func keepBest(c []candidate, k int) []candidate {
	h := c[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for _, x := range c[k:] {
		if better(x, h[0]) {
			h[0] = x
			siftDown(h, 0)
		}
	}
	return h
}

// siftDown restores the heap h (the worst candidate at the root) below i.
func siftDown(h []candidate, i int) {
	k := len(h)
	for {
		w := i
		if l := 2*i + 1; l < k && better(h[w], h[l]) {
			w = l
		}
		if r := 2*i + 2; r < k && better(h[w], h[r]) {
			w = r
		}
		if w == i {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

// penalize applies the repetition penalty to the tokens of the recent
// history, each once however often it occurs. The window is copied and
// sorted in a buffer the sampler keeps, so that no set is allocated per
// token.
func (s *Sampler) penalize(logits []float32, history []int) {
	pen := float32(s.p.RepeatPenalty)
	if pen <= 0 || pen == 1 {
		return
	}
	from := 0
	if s.p.RepeatLastN > 0 {
		from = max(0, len(history)-s.p.RepeatLastN)
	}
	s.recent = append(s.recent[:0], history[from:]...)
	slices.Sort(s.recent)
	for i, id := range s.recent {
		if id < 0 || id >= len(logits) || (i > 0 && s.recent[i-1] == id) {
			continue
		}
		if logits[id] > 0 {
			logits[id] /= pen
		} else {
			logits[id] *= pen
		}
	}
}

// softmax fills p of the candidates (sorted, most likely first) from their
// logits divided by t.
func softmax(c []candidate, t float64) {
	if t <= 0 {
		t = 1
	}
	top := float64(c[0].logit) / t
	sum := 0.0
	for i := range c {
		c[i].p = math.Exp(float64(c[i].logit)/t - top)
		sum += c[i].p
	}
	for i := range c {
		c[i].p /= sum
	}
}

// topP keeps the smallest prefix whose probability (at temperature 1)
// reaches p, and always at least one token.
func topP(c []candidate, p float64) []candidate {
	if p <= 0 || p >= 1 {
		return c
	}
	softmax(c, 1)
	acc := 0.0
	for i := range c {
		acc += c[i].p
		if acc >= p {
			return c[:i+1]
		}
	}
	return c
}

// minP drops the tokens whose probability is below p times the most
// likely one's, keeping at least one.
func minP(c []candidate, p float64) []candidate {
	if p <= 0 || len(c) == 0 {
		return c
	}
	// p_i >= p*p_max  <=>  logit_i >= logit_max + ln p
	limit := float64(c[0].logit) + math.Log(p)
	for i := 1; i < len(c); i++ {
		if float64(c[i].logit) < limit {
			return c[:i]
		}
	}
	return c
}

// Argmax returns the index of the largest logit, the first one on ties,
// as llama.cpp's greedy sampler does.
func Argmax(logits []float32) int {
	best := 0
	for i, l := range logits {
		if l > logits[best] {
			best = i
		}
	}
	return best
}
