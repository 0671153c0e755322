package model

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chatloop/chatloop/model/arch"
	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/lora"
)

// LoRA adapters. Options.Adapters lists adapter files (llama.cpp's GGUF
// LoRA format, model/lora) to serve with the base. Each is read whole,
// checked against the base (architecture, tensor names and shapes) and
// then, by default, applied as a low-rank side path: the product of every
// adapted matrix W gets scale·(alpha/rank)·B·(A·x) added, as llama.cpp
// computes it (llm_build_lora_mm), while W itself stays as the file has
// it. With Options.MergeAdapters the updates are instead added into the
// weights once at load (each adapted matrix is dequantized, updated and
// quantized back to its own type, then repacked as usual): no cost per
// token, but a quantized matrix is rounded again (its results drift from
// llama.cpp's by that rounding) and every request gets the adapters.

// Adapter names an adapter file to serve and its scale.
type Adapter struct {
	Path string
	// Scale multiplies the adapter's update, as llama.cpp's
	// --lora-scaled: 1 applies it as trained, 0 not at all.
	Scale float32
}

// AdapterInfo identifies a loaded adapter, so that answers can record
// which version of the model wrote them.
type AdapterInfo struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"` // of the adapter file
	// Short is a short label: "+" the file's base name "-" the first 4
	// hex digits of its SHA-256, e.g. "+tuned-3f2a".
	Short  string  `json:"short"`
	Scale  float32 `json:"scale"`
	Alpha  float32 `json:"alpha"`
	Rank   int     `json:"rank"`  // the largest rank of its pairs
	Pairs  int     `json:"pairs"` // adapted matrices
	Merged bool    `json:"merged"`
}

// readAdapters reads and checks the adapters of opts against the base f,
// whose matrices that adapters may update are served (weightsByName).
// Nothing is kept when one fails.
func readAdapters(f *gguf.File, path string, specs []Adapter, served map[string]*arch.Matrix) ([]*lora.Adapter, []AdapterInfo, error) {
	if len(specs) == 0 {
		return nil, nil, nil
	}
	base := lora.ShapesOf(path, f)
	var ads []*lora.Adapter
	var infos []AdapterInfo
	for _, s := range specs {
		a, err := lora.Read(s.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("adapter: %w", err)
		}
		if err := a.Check(base); err != nil {
			return nil, nil, err
		}
		rank := 0
		for _, p := range a.Pairs {
			if served[p.Name] == nil {
				return nil, nil, fmt.Errorf("adapter %s adapts %s: chatloop serves adapters of the attention and MLP projections (and of an untied output) only", s.Path, p.Name)
			}
			rank = max(rank, p.Rank)
		}
		scale := s.Scale
		if !finite32(scale) {
			return nil, nil, fmt.Errorf("adapter %s: scale %v is not a finite number", s.Path, scale)
		}
		ads = append(ads, a)
		infos = append(infos, AdapterInfo{Path: s.Path, SHA256: a.SHA256, Short: a.ShortName(), Scale: scale,
			Alpha: a.Alpha, Rank: rank, Pairs: len(a.Pairs)})
	}
	return ads, infos, nil
}

// weightsByName maps the tensor names of the matrices of w that adapters
// may update to the matrices: a block's projections, and the output when
// it is not tied to the embedding.
func weightsByName(w *arch.Weights, names *arch.TensorNames, tied bool) map[string]*arch.Matrix {
	ms := map[string]*arch.Matrix{}
	for i := range w.Layers {
		for _, m := range layerMatrices(&w.Layers[i], names) {
			ms[fmt.Sprintf(names.Block, i)+m.name] = m.m
		}
	}
	if !tied {
		ms[names.Output] = &w.Output
	}
	return ms
}

// mergeAdapters adds the adapters' updates into the matrices of w, each
// dequantized, updated and quantized back to its type on the heap. w's
// matrices must be in file layout (before repacking). On error w is left
// as it was.
func mergeAdapters(w *arch.Weights, tn *arch.TensorNames, tied bool, ads []*lora.Adapter, infos []AdapterInfo, k *kernels) (time.Duration, error) {
	start := time.Now()
	ms := weightsByName(w, tn, tied)
	type update struct {
		a     *lora.Adapter
		p     *lora.Pair
		scale float32
	}
	byMatrix := map[string][]update{}
	var names []string
	for i, a := range ads {
		for _, p := range a.Pairs {
			if byMatrix[p.Name] == nil {
				names = append(names, p.Name)
			}
			byMatrix[p.Name] = append(byMatrix[p.Name], update{a, p, infos[i].Scale})
		}
	}
	merged := make([][]byte, len(names))
	errs := make([]error, len(names))
	err := k.Parallel(len(names), 1, func(i int) {
		m := ms[names[i]]
		rows := make([]float32, m.Rows*m.Cols)
		if err := ggml.Dequantize(m.Type, m.Data, rows); err != nil {
			errs[i] = fmt.Errorf("merging an adapter into %s: %w", names[i], err)
			return
		}
		for _, u := range byMatrix[names[i]] {
			for o := range m.Rows {
				u.a.AddDeltaRow(rows[o*m.Cols:(o+1)*m.Cols], u.p, o, u.scale)
			}
		}
		data, err := ggml.Quantize(m.Type, rows)
		if err != nil {
			errs[i] = fmt.Errorf("merging an adapter into %s: %w", names[i], err)
			return
		}
		merged[i] = data
	})
	if err = errors.Join(append(errs, err)...); err != nil {
		return 0, err
	}
	for i, name := range names {
		ms[name].Data = merged[i]
	}
	for i := range infos {
		infos[i].Merged = true
	}
	return time.Since(start), nil
}

// loraTerm is one adapter's update of one matrix: f·B·(A·x), A rank×in
// and B out×rank.
//
// ggml multiplies them in the adapter's stored type: the activation is
// converted to that type's vec_dot type, then each product of two
// elements is rounded to float32 and summed in float64, in order
// (ggml_vec_dot_f32/f16/bf16 of the portable CPU build). For F32, F16 and
// BF16 the elements convert to float32 exactly, so the term keeps A and B
// as float32 and rounds the activation to the stored type (round), which
// gives the same sums with one plain kernel (dotRows). Other stored types
// go through ggml's row kernels on their bytes (qa, qb).
type loraTerm struct {
	typ           ggml.Type
	a, b          []float32
	qa, qb        []byte // other types only
	in, out, rank int
	f             float32 // scale·alpha/rank
}

// loraScratch is one token's working memory in Apply.
type loraScratch struct {
	act       ggml.Activation
	xr, tmp   []float32 // the activation rounded to the stored type; A·x (rank)
	tmpr, out []float32 // A·x rounded; B·(A·x) (out), other types only
}

// loraSet is a set of adapters applied as a side path (arch.LowRank):
// the terms of each adapted matrix of the model, found by its address.
// It computes as llama.cpp's llm_build_lora_mm does on ggml's CPU
// backend: mul_mat(B, mul_mat(A, x)) in the adapter's stored type, scaled,
// then added to the product of the weight.
type loraSet struct {
	terms   map[*arch.Matrix][]loraTerm
	k       *kernels
	scratch []*loraScratch // one per token of the largest batch; used by one forward pass at a time

	// The call Apply hands to the kernels' workers.
	job struct {
		t      *loraTerm
		xs, ys [][]float32
		errs   []error
	}
	jobFn func(i int)
}

var _ arch.LowRank = (*loraSet)(nil)

// newLoRASet binds the adapters' pairs to the model's matrices.
func newLoRASet(m *arch.Model, tied bool, ads []*lora.Adapter, infos []AdapterInfo, k *kernels) (*loraSet, error) {
	ms := weightsByName(&m.W, &m.Config.Family.Tensors, tied)
	s := &loraSet{terms: map[*arch.Matrix][]loraTerm{}, k: k}
	for i, a := range ads {
		for _, p := range a.Pairs {
			w := ms[p.Name]
			// As llama.cpp's get_scale rounds it: scale·alpha/rank, or
			// scale alone when alpha is 0.
			f := infos[i].Scale
			if a.Alpha != 0 {
				f = f * a.Alpha / float32(p.Rank)
			}
			t := loraTerm{typ: p.Type, a: p.A, b: p.B, in: p.In, out: p.Out, rank: p.Rank, f: f}
			switch t.typ {
			case ggml.F32, ggml.F16, ggml.BF16:
			default:
				if _, ok := ggml.VecDotType(t.typ); !ok || t.in%t.typ.BlockSize() != 0 || t.rank%t.typ.BlockSize() != 0 {
					t.typ = ggml.F32 // no kernel for the stored type at these sizes: multiply in F32
					break
				}
				// Encoded back into the stored type (exactly: the values
				// came from it).
				var err error
				if t.qa, err = ggml.Quantize(t.typ, p.A); err != nil {
					return nil, fmt.Errorf("adapter %s: %s: %w", infos[i].Path, p.Name, err)
				}
				if t.qb, err = ggml.Quantize(t.typ, p.B); err != nil {
					return nil, fmt.Errorf("adapter %s: %s: %w", infos[i].Path, p.Name, err)
				}
			}
			s.terms[w] = append(s.terms[w], t)
		}
	}
	s.jobFn = s.token
	return s, nil
}

// parallelLoRA is the batch size from which the side path runs on all the
// kernels' workers.
const parallelLoRA = 4

// Apply adds w's updates for xs to ys.
func (s *loraSet) Apply(w *arch.Matrix, xs, ys [][]float32) error {
	ts := s.terms[w]
	if len(ts) == 0 {
		return nil
	}
	for len(s.scratch) < len(xs) {
		s.scratch = append(s.scratch, &loraScratch{act: ggml.Activation{Rounding: ggml.RoundRef}})
	}
	for i := range ts {
		t := &ts[i]
		if len(xs) < parallelLoRA {
			for j := range xs {
				if err := t.apply(xs[j], ys[j], s.scratch[j]); err != nil {
					return err
				}
			}
			continue
		}
		if cap(s.job.errs) < len(xs) {
			s.job.errs = make([]error, len(xs))
		}
		s.job.t, s.job.xs, s.job.ys, s.job.errs = t, xs, ys, s.job.errs[:len(xs)]
		err := s.k.Parallel(len(xs), 1, s.jobFn)
		if err == nil {
			err = errors.Join(s.job.errs...)
		}
		clear(s.job.errs)
		s.job.t, s.job.xs, s.job.ys = nil, nil, nil
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *loraSet) token(j int) {
	s.job.errs[j] = s.job.t.apply(s.job.xs[j], s.job.ys[j], s.scratch[j])
}

// apply adds f·B·(A·x) to y.
func (t *loraTerm) apply(x, y []float32, sc *loraScratch) error {
	sc.tmp = grow(sc.tmp, t.rank)
	x = x[:t.in]
	y = y[:t.out]
	if t.qa != nil {
		sc.out = grow(sc.out, t.out)
		sc.act.Prepare(x, t.typ)
		if err := ggml.MatVecPrepared(t.typ, t.qa, t.rank, t.in, &sc.act, sc.tmp); err != nil {
			return err
		}
		sc.act.Prepare(sc.tmp, t.typ)
		if err := ggml.MatVecPrepared(t.typ, t.qb, t.out, t.rank, &sc.act, sc.out); err != nil {
			return err
		}
		for o, v := range sc.out {
			y[o] += float32(t.f * v) // rounded before the add, as ggml_scale then ggml_add
		}
		return nil
	}
	sc.xr = grow(sc.xr, t.in)
	roundTo(t.typ, sc.xr, x)
	dotRows(sc.tmp, t.a, t.in, sc.xr)
	roundTo(t.typ, sc.tmp, sc.tmp)
	// B has rank columns: its rows are short, so their dots are written
	// out here, four rows together, with the order and rounding of
	// dotRows.
	tmp, rank := sc.tmp, t.rank
	o := 0
	for ; o+4 <= len(y); o += 4 {
		b0 := t.b[o*rank : (o+1)*rank]
		b1 := t.b[(o+1)*rank : (o+2)*rank]
		b2 := t.b[(o+2)*rank : (o+3)*rank]
		b3 := t.b[(o+3)*rank : (o+4)*rank]
		var s0, s1, s2, s3 float64
		for r, v := range tmp {
			s0 += float64(b0[r] * v)
			s1 += float64(b1[r] * v)
			s2 += float64(b2[r] * v)
			s3 += float64(b3[r] * v)
		}
		y[o] += float32(t.f * float32(s0)) // rounded before the add, as ggml_scale then ggml_add
		y[o+1] += float32(t.f * float32(s1))
		y[o+2] += float32(t.f * float32(s2))
		y[o+3] += float32(t.f * float32(s3))
	}
	for ; o < len(y); o++ {
		y[o] += float32(t.f * ggml.DotF32(t.b[o*rank:(o+1)*rank], tmp))
	}
	return nil
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// roundTo writes src rounded to typ's precision (ggml's conversion of an
// activation to F16 or BF16) into dst; F32 is copied as it is.
func roundTo(typ ggml.Type, dst, src []float32) {
	switch typ {
	case ggml.F16:
		for i, v := range src {
			dst[i] = ggml.FP16ToFP32(ggml.FP32ToFP16(v))
		}
	case ggml.BF16:
		for i, v := range src {
			dst[i] = ggml.BF16ToFP32(ggml.FP32ToBF16(v))
		}
	default:
		copy(dst, src)
	}
}

// dotRows sets dst[r] to the dot product of row r of m (cols wide) and x
// as ggml_vec_dot_f32 computes it: each product rounded to float32, summed
// in float64 in order. Eight (or four) rows run together so that their
// independent sums overlap.
func dotRows(dst, m []float32, cols int, x []float32) {
	x = x[:cols]
	r := 0
	for ; r+8 <= len(dst); r += 8 {
		var s [8]float64
		ms := [8][]float32{}
		for k := range ms {
			ms[k] = m[(r+k)*cols : (r+k+1)*cols]
		}
		m0, m1, m2, m3, m4, m5, m6, m7 := ms[0], ms[1], ms[2], ms[3], ms[4], ms[5], ms[6], ms[7]
		for i, v := range x {
			s[0] += float64(m0[i] * v)
			s[1] += float64(m1[i] * v)
			s[2] += float64(m2[i] * v)
			s[3] += float64(m3[i] * v)
			s[4] += float64(m4[i] * v)
			s[5] += float64(m5[i] * v)
			s[6] += float64(m6[i] * v)
			s[7] += float64(m7[i] * v)
		}
		for k := range s {
			dst[r+k] = float32(s[k])
		}
	}
	for ; r+4 <= len(dst); r += 4 {
		m0 := m[r*cols : (r+1)*cols]
		m1 := m[(r+1)*cols : (r+2)*cols]
		m2 := m[(r+2)*cols : (r+3)*cols]
		m3 := m[(r+3)*cols : (r+4)*cols]
		var s0, s1, s2, s3 float64
		for i, v := range x {
			s0 += float64(m0[i] * v)
			s1 += float64(m1[i] * v)
			s2 += float64(m2[i] * v)
			s3 += float64(m3[i] * v)
		}
		dst[r], dst[r+1], dst[r+2], dst[r+3] = float32(s0), float32(s1), float32(s2), float32(s3)
	}
	for ; r < len(dst); r++ {
		dst[r] = ggml.DotF32(m[r*cols:(r+1)*cols], x)
	}
}

// adapterSuffix is the adapters' short names joined, for logs: "" with
// none, else e.g. "+tuned-3f2a".
func adapterSuffix(infos []AdapterInfo) string {
	var b strings.Builder
	for _, a := range infos {
		b.WriteString(a.Short)
	}
	return b.String()
}

// ErrAdapter is returned (wrapped) for a request's choice of adapters the
// engine cannot serve.
var ErrAdapter = errors.New("model: adapter choice")

// loraFor returns the side path of the adapters req chooses (nil for the
// base alone) and its key for the prefix cache ("" for the base or merged
// weights).
func (e *Engine) loraFor(req Request) (arch.LowRank, string, error) {
	if !req.Base && len(req.Adapters) == 0 {
		if e.lora == nil {
			return nil, "", nil
		}
		return e.lora, adapterSuffix(e.adapters), nil
	}
	if e.merged {
		return nil, "", fmt.Errorf("%w: the adapters are merged into the weights; choosing them per request needs the side path (no merge)", ErrAdapter)
	}
	if req.Base {
		if len(req.Adapters) > 0 {
			return nil, "", fmt.Errorf("%w: a request cannot ask for the base alone and for adapters %v", ErrAdapter, req.Adapters)
		}
		return nil, "", nil
	}
	chosen := make([]bool, len(e.adapters))
	for _, name := range req.Adapters {
		i := slices.IndexFunc(e.adapters, func(a AdapterInfo) bool {
			base := strings.TrimSuffix(filepath.Base(a.Path), filepath.Ext(a.Path))
			return name == a.Short || name == a.Path || name == base || "+"+name == a.Short
		})
		if i < 0 {
			return nil, "", fmt.Errorf("%w: no adapter %q is loaded (loaded: %q)", ErrAdapter, name, adapterSuffix(e.adapters))
		}
		chosen[i] = true
	}
	var ads []*lora.Adapter
	var infos []AdapterInfo
	for i, c := range chosen {
		if c {
			ads, infos = append(ads, e.ads[i]), append(infos, e.adapters[i])
		}
	}
	key := adapterSuffix(infos)
	if len(infos) == len(e.adapters) {
		return e.lora, key, nil
	}
	e.setsMu.Lock()
	defer e.setsMu.Unlock()
	s := e.sets[key]
	if s == nil {
		var err error
		if s, err = newLoRASet(e.model, !e.untied, ads, infos, e.kern); err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrAdapter, err)
		}
		if e.sets == nil {
			e.sets = map[string]*loraSet{}
		}
		e.sets[key] = s
	}
	return s, key, nil
}

func finite32(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }
