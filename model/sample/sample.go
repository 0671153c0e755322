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
	recent []int // the penalty window, sorted to visit each id once
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

// Sample returns the next token id. logits is modified only when a
// repetition penalty applies. history holds the tokens so far (prompt and
// answer), oldest first.
func (s *Sampler) Sample(logits []float32, history []int) int {
	if len(logits) == 0 {
		return -1
	}
	s.penalize(logits, history)
	if s.p.Greedy() {
		return Argmax(logits)
	}
	if cap(s.cand) < len(logits) {
		s.cand = make([]candidate, 0, len(logits))
	}
	s.cand = s.cand[:0]
	for i, l := range logits {
		if !math.IsInf(float64(l), -1) && !math.IsNaN(float64(l)) {
			s.cand = append(s.cand, candidate{id: i, logit: l})
		}
	}
	if len(s.cand) == 0 {
		return Argmax(logits)
	}
	c := s.cand
	if k := s.p.TopK; k > 0 && k < len(c) {
		c = keepBest(c, k)
	}
	slices.SortFunc(c, order)
	c = topP(c, s.p.TopP)
	c = minP(c, s.p.MinP)
	// Temperature, then the final distribution.
	t := s.p.Temperature
	softmax(c, t)
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
	down := func(i int) {
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
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for _, x := range c[k:] {
		if better(x, h[0]) {
			h[0] = x
			down(0)
		}
	}
	return h
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
