package train

import "fmt"

// Counts reports whether token t (t ≥ Start) counts in the sequence's
// log-probability: every one without a Mask, else those Mask keeps. A
// DPO answer that called tools counts the tokens the model wrote (its
// tool calls and its final text, each with its end of turn) and masks the
// tool results and the turn headers between them, as TRL masks
// everything but the assistant's tokens.
func (s Seq) Counts(t int) bool { return s.Mask == nil || s.Mask[t] }

// Counted is how many tokens count (IPO averages over them).
func (s Seq) Counted() int {
	if s.Mask == nil {
		return len(s.Tokens) - s.Start
	}
	n := 0
	for t := s.Start; t < len(s.Tokens); t++ {
		if s.Mask[t] {
			n++
		}
	}
	return n
}

func (s Seq) checkMask() error {
	if s.Mask == nil {
		return nil
	}
	if len(s.Mask) != len(s.Tokens) {
		return fmt.Errorf("train: a mask of %d for a sequence of %d tokens", len(s.Mask), len(s.Tokens))
	}
	if s.Counted() == 0 {
		return fmt.Errorf("train: the mask keeps none of the answer's %d tokens", len(s.Tokens)-s.Start)
	}
	return nil
}
