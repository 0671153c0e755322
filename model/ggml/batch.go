package ggml

// Batch prepares a batch of input vectors for every weight that reads them,
// converting the inputs to each vec_dot type at most once: the q, k and v
// projections (or gate and up) of a layer usually share one, and when
// their types differ (a Q4_K_M file mixes Q4_K with Q5_0 or Q6_K with
// Q8_0) each conversion is still done only once. Buffers are reused, so a
// Batch in steady use does not allocate.
type Batch struct {
	// Rounding is passed to every Activation (zero value: RoundAVX).
	Rounding Rounding

	xs    [][]float32
	slots [len(vecDotTypes)]batchSlot
}

type batchSlot struct {
	acts  []*Activation
	valid bool
}

// vecDotTypes are the activation formats, in a fixed order for Batch's
// slots.
var vecDotTypes = [...]Type{F32, F16, BF16, Q8_0, Q8_1, Q8_K}

// Reset starts a new batch of inputs (one vector per token). The slices
// are read again by For until the next Reset, so they must not change in
// between.
func (b *Batch) Reset(xs [][]float32) {
	b.xs = xs
	for i := range b.slots {
		b.slots[i].valid = false
	}
}

// For returns the batch prepared for weights of type w, converting it on
// first use since Reset. The activations stay valid until the next Reset.
func (b *Batch) For(w Type) ([]*Activation, error) {
	vt, ok := VecDotType(w)
	if !ok {
		var a Activation
		a.Prepare(nil, w)
		return nil, a.Err()
	}
	var s *batchSlot
	for i, t := range vecDotTypes {
		if t == vt {
			s = &b.slots[i]
		}
	}
	if s.valid {
		return s.acts[:len(b.xs)], nil
	}
	for len(s.acts) < len(b.xs) {
		s.acts = append(s.acts, &Activation{})
	}
	for i, x := range b.xs {
		a := s.acts[i]
		a.Rounding = b.Rounding
		a.Prepare(x, w)
		if a.Err() != nil {
			return nil, a.Err()
		}
	}
	s.valid = true
	return s.acts[:len(b.xs)], nil
}
