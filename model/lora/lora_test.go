package lora_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/lora"
)

func randPair(rng *rand.Rand, name string, in, out, rank int) *lora.Pair {
	p := &lora.Pair{Name: name, In: in, Out: out, Rank: rank, A: make([]float32, rank*in), B: make([]float32, out*rank)}
	for i := range p.A {
		p.A[i] = float32(rng.NormFloat64())
	}
	for i := range p.B {
		p.B[i] = float32(rng.NormFloat64())
	}
	return p
}

func sample(seed uint64) *lora.Adapter {
	rng := rand.New(rand.NewPCG(seed, 1))
	return &lora.Adapter{Arch: "qwen2", Alpha: 16, Name: "test", Pairs: []*lora.Pair{
		randPair(rng, "blk.0.attn_k.weight", 8, 4, 2),
		randPair(rng, "blk.0.attn_q.weight", 8, 8, 2),
		randPair(rng, "blk.0.ffn_down.weight", 16, 8, 3),
		randPair(rng, "token_embd.weight", 8, 32, 2),
	}}
}

func write(t *testing.T, a *lora.Adapter) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.gguf")
	if err := lora.Write(path, a); err != nil {
		t.Fatal(err)
	}
	return path
}

func equalPairs(t *testing.T, got, want []*lora.Pair) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d pairs, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.In != w.In || g.Out != w.Out || g.Rank != w.Rank {
			t.Fatalf("pair %d: got %s %d×%d r%d, want %s %d×%d r%d", i, g.Name, g.Out, g.In, g.Rank, w.Name, w.Out, w.In, w.Rank)
		}
		for j := range w.A {
			if g.A[j] != w.A[j] {
				t.Fatalf("%s: A[%d] = %v, want %v", w.Name, j, g.A[j], w.A[j])
			}
		}
		for j := range w.B {
			if g.B[j] != w.B[j] {
				t.Fatalf("%s: B[%d] = %v, want %v", w.Name, j, g.B[j], w.B[j])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	a := sample(1)
	path := write(t, a)
	got, err := lora.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != "qwen2" || got.Alpha != 16 || got.Name != "test" {
		t.Errorf("got arch %q alpha %v name %q, want qwen2 16 test", got.Arch, got.Alpha, got.Name)
	}
	equalPairs(t, got.Pairs, a.Pairs)
	data, _ := os.ReadFile(path)
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]); got.SHA256 != want {
		t.Errorf("SHA256 %s, want %s", got.SHA256, want)
	}
	if want := "+a-" + got.SHA256[:4]; got.ShortName() != want {
		t.Errorf("ShortName %q, want %q", got.ShortName(), want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the adapter", len(entries))
	}
}

// TestLayout reads a written file with the gguf package alone and checks
// it against the format llama.cpp's llama-adapter.cpp reads, stated
// independently of this package's reader.
func TestLayout(t *testing.T) {
	a := sample(2)
	path := write(t, a)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for key, want := range map[string]string{"general.type": "adapter", "adapter.type": "lora", "general.architecture": "qwen2"} {
		if got, _ := f.String(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if v, _ := f.Get("adapter.lora.alpha"); v.Type != gguf.TypeFloat32 {
		t.Errorf("adapter.lora.alpha is %s, want float32", v.Describe())
	} else if x, _ := v.Float(); x != 16 {
		t.Errorf("adapter.lora.alpha = %v, want 16", x)
	}
	dims := func(name string) []uint64 {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		if ti.Type != ggml.F32 {
			t.Errorf("%s is %s, want F32", name, ti.Type)
		}
		return ti.Dims
	}
	check := func(name string, want ...uint64) {
		t.Helper()
		if got := dims(name); !equalU64(got, want) {
			t.Errorf("%s ne %v, want %v", name, got, want)
		}
	}
	// Base ne [in, out]: lora_a ne [in, rank], lora_b ne [rank, out].
	check("blk.0.attn_q.weight.lora_a", 8, 2)
	check("blk.0.attn_q.weight.lora_b", 2, 8)
	check("blk.0.ffn_down.weight.lora_a", 16, 3)
	check("blk.0.ffn_down.weight.lora_b", 3, 8)
	// token_embd ne [hidden 8, vocab 32]: flipped, lora_a ne [rank, vocab], lora_b ne [rank, hidden].
	check("token_embd.weight.lora_a", 2, 32)
	check("token_embd.weight.lora_b", 2, 8)

	// The element layout: lora_a row r (of ne0 = in values) is A's row r;
	// lora_b row o (of ne0 = rank values) is B's row o.
	p := a.Pair("blk.0.ffn_down.weight")
	raw, _ := f.TensorData("blk.0.ffn_down.weight.lora_a")
	if got := math.Float32frombits(leU32(raw[4*(2*16+5):])); got != p.A[2*16+5] {
		t.Errorf("lora_a[r=2][i=5] = %v, want A[2][5] = %v", got, p.A[2*16+5])
	}
	raw, _ = f.TensorData("blk.0.ffn_down.weight.lora_b")
	if got := math.Float32frombits(leU32(raw[4*(7*3+1):])); got != p.B[7*3+1] {
		t.Errorf("lora_b[o=7][r=1] = %v, want B[7][1] = %v", got, p.B[7*3+1])
	}
	// token_embd: the delta of embedding row t, element h, is
	// sum_r lora_b[h][r]·lora_a[t][r] (llama.cpp's llm_build_inp_embd).
	p = a.Pair("token_embd.weight")
	ra, _ := f.TensorData("token_embd.weight.lora_a")
	rb, _ := f.TensorData("token_embd.weight.lora_b")
	for _, th := range [][2]int{{0, 0}, {31, 7}, {5, 3}} {
		tok, h := th[0], th[1]
		var got, want float64
		for r := range 2 {
			got += float64(math.Float32frombits(leU32(rb[4*(h*2+r):]))) * float64(math.Float32frombits(leU32(ra[4*(tok*2+r):])))
			want += float64(p.B[tok*2+r]) * float64(p.A[r*8+h])
		}
		if got != want {
			t.Errorf("token_embd delta[%d][%d] from the file = %v, from the pair %v", tok, h, got, want)
		}
	}
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// converterFile writes an adapter the way llama.cpp's
// convert_lora_to_gguf.py does from a PEFT checkpoint: its metadata keys,
// F16 (or BF16/Q8_0 with --outtype) matrices, PEFT's lora_A (rank, in) and
// lora_B (out, rank) stored with numpy's shapes reversed into ne.
func converterFile(t *testing.T, typ ggml.Type, peftA, peftB [][]float32) string {
	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", "llama")
	w.SetString("general.type", "adapter")
	w.SetString("general.name", "Peft Lora")
	w.SetUint32("general.file_type", 1)
	w.SetUint32("general.quantization_version", 2)
	w.SetString("adapter.type", "lora")
	w.SetFloat32("adapter.lora.alpha", 32)
	flat := func(m [][]float32) []float32 {
		var v []float32
		for _, r := range m {
			v = append(v, r...)
		}
		return v
	}
	rank, in, out := len(peftA), len(peftA[0]), len(peftB)
	if err := w.AddFloats("blk.3.attn_v.weight.lora_a", typ, []uint64{uint64(in), uint64(rank)}, flat(peftA)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFloats("blk.3.attn_v.weight.lora_b", typ, []uint64{uint64(rank), uint64(out)}, flat(peftB)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "peft.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadConverterOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const rank, in, out = 4, 64, 32
	peftA := make([][]float32, rank)
	for r := range peftA {
		peftA[r] = make([]float32, in)
		for i := range peftA[r] {
			peftA[r][i] = float32(rng.NormFloat64() * 0.1)
		}
	}
	peftB := make([][]float32, out)
	for o := range peftB {
		peftB[o] = make([]float32, rank)
		for r := range peftB[o] {
			peftB[o][r] = float32(rng.NormFloat64() * 0.1)
		}
	}
	for _, tc := range []struct {
		typ ggml.Type
		tol float64
	}{{ggml.F32, 0}, {ggml.F16, 1e-3}, {ggml.BF16, 1e-2}} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			a, err := lora.Read(converterFile(t, tc.typ, peftA, peftB))
			if err != nil {
				t.Fatal(err)
			}
			if a.Arch != "llama" || a.Alpha != 32 || len(a.Pairs) != 1 {
				t.Fatalf("got arch %q alpha %v %d pairs, want llama 32 1", a.Arch, a.Alpha, len(a.Pairs))
			}
			p := a.Pairs[0]
			if p.Name != "blk.3.attn_v.weight" || p.In != in || p.Out != out || p.Rank != rank || p.Type != tc.typ {
				t.Fatalf("got %s in %d out %d rank %d type %s", p.Name, p.In, p.Out, p.Rank, p.Type)
			}
			if f := a.Factor(p); f != 8 {
				t.Errorf("Factor %v, want alpha/rank = 8", f)
			}
			for r := range rank {
				for i := range in {
					if d := math.Abs(float64(p.A[r*in+i] - peftA[r][i])); d > tc.tol*math.Abs(float64(peftA[r][i]))+1e-7 {
						t.Fatalf("A[%d][%d] = %v, PEFT lora_A %v", r, i, p.A[r*in+i], peftA[r][i])
					}
				}
			}
			for o := range out {
				for r := range rank {
					if d := math.Abs(float64(p.B[o*rank+r] - peftB[o][r])); d > tc.tol*math.Abs(float64(peftB[o][r]))+1e-7 {
						t.Fatalf("B[%d][%d] = %v, PEFT lora_B %v", o, r, p.B[o*rank+r], peftB[o][r])
					}
				}
			}
		})
	}
}

func TestAddDeltaRow(t *testing.T) {
	a := sample(4)
	p := a.Pair("blk.0.ffn_down.weight")
	const scale = 0.5
	for o := range p.Out {
		got := make([]float32, p.In)
		a.AddDeltaRow(got, p, o, scale)
		for i := range p.In {
			var want float64
			for r := range p.Rank {
				want += float64(p.B[o*p.Rank+r]) * float64(p.A[r*p.In+i])
			}
			want *= scale * 16 / 3
			if math.Abs(float64(got[i])-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("row %d [%d] = %v, want %v", o, i, got[i], want)
			}
		}
	}
	a.Alpha = 0
	if f := a.Factor(p); f != 1 {
		t.Errorf("Factor with alpha 0 = %v, want 1 (llama.cpp: scale alone)", f)
	}
}

func TestCheck(t *testing.T) {
	a, err := lora.Read(write(t, sample(5)))
	if err != nil {
		t.Fatal(err)
	}
	base := lora.BaseShapes{Name: "base.gguf", Arch: "qwen2", Tensors: map[string][]uint64{
		"token_embd.weight":     {8, 32},
		"blk.0.attn_q.weight":   {8, 8},
		"blk.0.attn_k.weight":   {8, 4},
		"blk.0.ffn_down.weight": {16, 8},
	}}
	if err := a.Check(base); err != nil {
		t.Fatalf("Check on its base: %v", err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(b *lora.BaseShapes)
		naming []string
	}{
		{"arch", func(b *lora.BaseShapes) { b.Arch = "llama" }, []string{"qwen2", "llama", "base.gguf", a.Path}},
		{"shape", func(b *lora.BaseShapes) { b.Tensors["blk.0.attn_k.weight"] = []uint64{8, 8} }, []string{"blk.0.attn_k.weight", "base.gguf", a.Path, "[8 4]", "[8 8]"}},
		{"missing", func(b *lora.BaseShapes) { delete(b.Tensors, "blk.0.ffn_down.weight") }, []string{"blk.0.ffn_down.weight", "base.gguf", a.Path}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			b.Tensors = map[string][]uint64{}
			for k, v := range base.Tensors {
				b.Tensors[k] = v
			}
			tc.edit(&b)
			err := a.Check(b)
			if !errors.Is(err, lora.ErrMismatch) {
				t.Fatalf("got %v, want ErrMismatch", err)
			}
			for _, s := range tc.naming {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

func TestReadTruncated(t *testing.T) {
	path := write(t, sample(6))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(data); n += 1 + n/16 {
		trunc := filepath.Join(t.TempDir(), "t.gguf")
		if err := os.WriteFile(trunc, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := lora.Read(trunc)
		if err == nil || a != nil {
			t.Fatalf("%d of %d bytes: got %v, %v; want an error and no adapter", n, len(data), a, err)
		}
		if !errors.Is(err, lora.ErrFormat) || !strings.Contains(err.Error(), trunc) {
			t.Fatalf("%d bytes: %v does not wrap ErrFormat naming the file", n, err)
		}
	}
}

func TestReadErrors(t *testing.T) {
	good := func() *gguf.Writer {
		w := gguf.NewWriter(3, 0)
		w.SetString("general.type", "adapter")
		w.SetString("general.architecture", "qwen2")
		w.SetString("adapter.type", "lora")
		w.SetFloat32("adapter.lora.alpha", 8)
		return w
	}
	add := func(t *testing.T, w *gguf.Writer, name string, dims []uint64, fill float32) {
		n := 1
		for _, d := range dims {
			n *= int(d)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = fill
		}
		if err := w.AddFloats(name, ggml.F32, dims, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, want string
		build      func(t *testing.T) *gguf.Writer
	}{
		{"model not adapter", "general.type", func(t *testing.T) *gguf.Writer {
			w := gguf.NewWriter(3, 0)
			w.SetString("general.architecture", "qwen2")
			add(t, w, "blk.0.attn_q.weight", []uint64{8, 8}, 1)
			return w
		}},
		{"control vector", "adapter.type", func(t *testing.T) *gguf.Writer {
			w := good()
			w.SetString("adapter.type", "control_vector")
			return w
		}},
		{"alpha string", "adapter.lora.alpha", func(t *testing.T) *gguf.Writer {
			w := good()
			w.SetString("adapter.lora.alpha", "16")
			return w
		}},
		{"no pairs", "no tensor pairs", func(t *testing.T) *gguf.Writer { return good() }},
		{"half a pair", "only one", func(t *testing.T) *gguf.Writer {
			w := good()
			add(t, w, "blk.0.attn_q.weight.lora_a", []uint64{8, 2}, 1)
			return w
		}},
		{"unexpected tensor", "neither", func(t *testing.T) *gguf.Writer {
			w := good()
			add(t, w, "blk.0.attn_q.weight", []uint64{8, 8}, 1)
			return w
		}},
		{"ranks differ", "rank", func(t *testing.T) *gguf.Writer {
			w := good()
			add(t, w, "blk.0.attn_q.weight.lora_a", []uint64{8, 2}, 1)
			add(t, w, "blk.0.attn_q.weight.lora_b", []uint64{3, 8}, 1)
			return w
		}},
		{"vector", "matrix", func(t *testing.T) *gguf.Writer {
			w := good()
			add(t, w, "blk.0.attn_q.weight.lora_a", []uint64{16}, 1)
			add(t, w, "blk.0.attn_q.weight.lora_b", []uint64{2, 8}, 1)
			return w
		}},
		{"nan", "NaN", func(t *testing.T) *gguf.Writer {
			w := good()
			add(t, w, "blk.0.attn_q.weight.lora_a", []uint64{8, 2}, 1)
			add(t, w, "blk.0.attn_q.weight.lora_b", []uint64{2, 8}, float32(math.NaN()))
			return w
		}},
		{"no arch", "architecture", func(t *testing.T) *gguf.Writer {
			w := gguf.NewWriter(3, 0)
			w.SetString("general.type", "adapter")
			w.SetString("adapter.type", "lora")
			add(t, w, "blk.0.attn_q.weight.lora_a", []uint64{8, 2}, 1)
			add(t, w, "blk.0.attn_q.weight.lora_b", []uint64{2, 8}, 1)
			return w
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := tc.build(t).WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			a, err := lora.Parse(buf.Bytes())
			if err == nil || a != nil {
				t.Fatalf("got %v, %v; want an error", a, err)
			}
			if !errors.Is(err, lora.ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrFormat mentioning %q", err, tc.want)
			}
		})
	}
}

func TestNormSkipped(t *testing.T) {
	w := gguf.NewWriter(3, 0)
	w.SetString("general.type", "adapter")
	w.SetString("general.architecture", "qwen2")
	w.SetString("adapter.type", "lora")
	for _, x := range []struct {
		name string
		dims []uint64
	}{{"blk.0.attn_norm.weight", []uint64{8}}, {"blk.0.attn_q.weight.lora_a", []uint64{8, 2}}, {"blk.0.attn_q.weight.lora_b", []uint64{2, 8}}} {
		n := uint64(1)
		for _, d := range x.dims {
			n *= d
		}
		if err := w.AddFloats(x.name, ggml.F32, x.dims, make([]float32, n)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	a, err := lora.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Pairs) != 1 || a.Alpha != 0 {
		t.Errorf("got %d pairs alpha %v, want 1 pair and alpha 0 (absent)", len(a.Pairs), a.Alpha)
	}
}

func TestWriteRefusesInvalid(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.gguf")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(a *lora.Adapter){
		"short A":  func(a *lora.Adapter) { a.Pairs[0].A = a.Pairs[0].A[1:] },
		"inf":      func(a *lora.Adapter) { a.Pairs[1].B[0] = float32(math.Inf(1)) },
		"unsorted": func(a *lora.Adapter) { a.Pairs[0], a.Pairs[1] = a.Pairs[1], a.Pairs[0] },
		"no arch":  func(a *lora.Adapter) { a.Arch = "" },
		"alpha":    func(a *lora.Adapter) { a.Alpha = -1 },
		"long name": func(a *lora.Adapter) {
			a.Pairs[3].Name = "blk.0." + strings.Repeat("x", 60) + ".weight"
		},
	} {
		a := sample(7)
		edit(a)
		if err := lora.Write(path, a); err == nil {
			t.Errorf("%s: Write succeeded", name)
		}
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("the old file was replaced: %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries left in the directory, want 1", len(entries))
	}
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
