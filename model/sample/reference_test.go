package sample

// This file keeps the sampler as it was before the selection rewrite
// (commit 9a8bc62: top-k by heap, then a full sort of the candidates),
// verbatim but for the names, as the reference that the fast sampler must
// match token for token.

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// refSampler picks tokens. It is not safe for concurrent use. Once its
// buffers have grown to the vocabulary and the penalty window, Sample
// does not allocate.
type refSampler struct {
	p      Params
	pcg    *rand.PCG
	rng    *rand.Rand
	cand   []refCandidate
	recent []int // the penalty window, sorted to visit each id once
}

type refCandidate struct {
	id    int
	logit float32
	p     float64
}

// newRef returns a sampler for p.
func newRef(p Params) *refSampler {
	s := &refSampler{pcg: new(rand.PCG)}
	s.rng = rand.New(s.pcg)
	s.Reset(p)
	return s
}

// Reset makes s what newRef(p) returns, keeping its buffers (a vocabulary's
// worth of candidates), so that a sampler reused across requests does not
// allocate them again.
func (s *refSampler) Reset(p Params) {
	if p.RepeatLastN == 0 {
		p.RepeatLastN = 64
	}
	s.p = p
	s.pcg.Seed(p.Seed, p.Seed^0x9e3779b97f4a7c15)
}

// Sample returns the next token id. logits is modified only when a
// repetition penalty applies. history holds the tokens so far (prompt and
// answer), oldest first.
func (s *refSampler) Sample(logits []float32, history []int) int {
	if len(logits) == 0 {
		return -1
	}
	s.refPenalize(logits, history)
	if s.p.Greedy() {
		return refArgmax(logits)
	}
	if cap(s.cand) < len(logits) {
		s.cand = make([]refCandidate, 0, len(logits))
	}
	s.cand = s.cand[:0]
	for i, l := range logits {
		if !math.IsInf(float64(l), -1) && !math.IsNaN(float64(l)) {
			s.cand = append(s.cand, refCandidate{id: i, logit: l})
		}
	}
	if len(s.cand) == 0 {
		return refArgmax(logits)
	}
	c := s.cand
	if k := s.p.TopK; k > 0 && k < len(c) {
		c = refKeepBest(c, k)
	}
	slices.SortFunc(c, refOrder)
	c = refTopP(c, s.p.TopP)
	c = refMinP(c, s.p.MinP)
	// Temperature, then the final distribution.
	t := s.p.Temperature
	refSoftmax(c, t)
	r := s.rng.Float64()
	acc := 0.0
	for _, x := range c {
		acc += x.p
		if r < acc {
			return x.id
		}
	}
	return c[len(c)-1].id
}

// refBetter orders candidates: higher logit first, lower id on ties.
func refBetter(a, b refCandidate) bool {
	if a.logit != b.logit {
		return a.logit > b.logit
	}
	return a.id < b.id
}

// refOrder is refBetter as a comparison function for slices.SortFunc (which,
// unlike sort.Slice, does not allocate).
func refOrder(a, b refCandidate) int {
	if a.logit != b.logit {
		return -cmp.Compare(a.logit, b.logit)
	}
	return cmp.Compare(a.id, b.id)
}

// refKeepBest moves the k best candidates (by refBetter) to the front of c, in
// no particular refOrder, and returns them: O(n log k) with a heap whose root
// is the worst refCandidate kept, instead of sorting the whole vocabulary.
func refKeepBest(c []refCandidate, k int) []refCandidate {
	h := c[:k]
	down := func(i int) {
		for {
			w := i
			if l := 2*i + 1; l < k && refBetter(h[w], h[l]) {
				w = l
			}
			if r := 2*i + 2; r < k && refBetter(h[w], h[r]) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for _, x := range c[k:] {
		if refBetter(x, h[0]) {
			h[0] = x
			down(0)
		}
	}
	return h
}

// refPenalize applies the repetition penalty to the tokens of the recent
// history, each once however often it occurs. The window is copied and
// sorted in a buffer the sampler keeps, so that no set is allocated per
// token.
func (s *refSampler) refPenalize(logits []float32, history []int) {
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

// refSoftmax fills p of the candidates (sorted, most likely first) from their
// logits divided by t.
func refSoftmax(c []refCandidate, t float64) {
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

// refTopP keeps the smallest prefix whose probability (at temperature 1)
// reaches p, and always at least one token.
func refTopP(c []refCandidate, p float64) []refCandidate {
	if p <= 0 || p >= 1 {
		return c
	}
	refSoftmax(c, 1)
	acc := 0.0
	for i := range c {
		acc += c[i].p
		if acc >= p {
			return c[:i+1]
		}
	}
	return c
}

// refMinP drops the tokens whose probability is below p times the most
// likely one's, keeping at least one.
func refMinP(c []refCandidate, p float64) []refCandidate {
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

// refArgmax returns the index of the largest logit, the first one on ties,
// as llama.cpp's greedy sampler does.
func refArgmax(logits []float32) int {
	best := 0
	for i, l := range logits {
		if l > logits[best] {
			best = i
		}
	}
	return best
}
