package gguf_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
	"github.com/chatloop/chatloop/model/internal/vocabdata"
)

// allTypes are the tensor types the writer is asked to handle.
var allTypes = []ggml.Type{
	ggml.F32, ggml.F16, ggml.BF16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_1,
	ggml.Q5_0, ggml.Q5_1, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K,
}

// sampleKV is one metadata value of every kind, extremes included.
func sampleKV() []gguf.KV {
	return []gguf.KV{
		{"general.architecture", gguf.StringValue("llama")},
		{"general.name", gguf.StringValue("tiny ünïcode 名前")},
		{"test.empty_string", gguf.StringValue("")},
		{"test.u8", gguf.Uint8Value(255)},
		{"test.i8", gguf.Int8Value(-128)},
		{"test.u16", gguf.Uint16Value(65535)},
		{"test.i16", gguf.Int16Value(-32768)},
		{"test.u32", gguf.Uint32Value(math.MaxUint32)},
		{"test.i32", gguf.Int32Value(math.MinInt32)},
		{"test.f32", gguf.Float32Value(1e-6)},
		{"test.bool_true", gguf.BoolValue(true)},
		{"test.bool_false", gguf.BoolValue(false)},
		{"test.u64", gguf.Uint64Value(math.MaxUint64)},
		{"test.i64", gguf.Int64Value(math.MinInt64)},
		{"test.f64", gguf.Float64Value(math.Pi)},
		{"test.nan", gguf.Float32Value(float32(math.NaN()))},
		{"test.strings", gguf.StringsValue([]string{"a", "", "<|im_end|>", "Ġthe"})},
		{"test.empty_array", gguf.Int32sValue(nil)},
		{"test.u8s", gguf.Uint8sValue([]uint8{0, 1, 255})},
		{"test.i8s", gguf.Int8sValue([]int8{-1, 0, 127})},
		{"test.u16s", gguf.Uint16sValue([]uint16{7, 65535})},
		{"test.i16s", gguf.Int16sValue([]int16{-7, 32767})},
		{"test.u32s", gguf.Uint32sValue([]uint32{1, math.MaxUint32})},
		{"test.i32s", gguf.Int32sValue([]int32{1, 3, 4, -5})},
		{"test.u64s", gguf.Uint64sValue([]uint64{math.MaxInt64})},
		{"test.i64s", gguf.Int64sValue([]int64{math.MinInt64, 0})},
		{"test.f32s", gguf.Float32sValue([]float32{0.5, -2})},
		{"test.f64s", gguf.Float64sValue([]float64{1e300})},
		{"test.bools", gguf.BoolsValue([]bool{true, false, true})},
	}
}

type sampleTensor struct {
	name string
	typ  ggml.Type
	dims []uint64
	data []byte
}

// sampleTensors makes one tensor of every type, of 1 to 4 dimensions,
// filled with seeded normal values quantized by ggml.
func sampleTensors(tb testing.TB, seed uint64) []sampleTensor {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	shapes := [][]uint64{{256}, {256, 3}, {512, 2, 2}, {256, 1, 2, 3}}
	var out []sampleTensor
	for i, typ := range allTypes {
		dims := shapes[i%len(shapes)]
		n := uint64(1)
		for _, d := range dims {
			n *= d
		}
		vals := make([]float32, n)
		for j := range vals {
			vals[j] = float32(r.NormFloat64())
		}
		data, err := ggml.Quantize(typ, vals)
		if err != nil {
			tb.Fatalf("quantize %s: %v", typ, err)
		}
		out = append(out, sampleTensor{fmt.Sprintf("blk.%d.%s.weight", i, typ), typ, dims, data})
	}
	return out
}

func sampleWriter(tb testing.TB, version uint32, alignment uint64, seed uint64) (*gguf.Writer, []gguf.KV, []sampleTensor) {
	tb.Helper()
	w := gguf.NewWriter(version, alignment)
	kv := sampleKV()
	for _, e := range kv {
		w.AddKV(e.Key, e.Value)
	}
	ts := sampleTensors(tb, seed)
	for _, t := range ts {
		if err := w.AddTensor(t.name, t.typ, t.dims, t.data); err != nil {
			tb.Fatal(err)
		}
	}
	return w, kv, ts
}

func encode(tb testing.TB, w *gguf.Writer) []byte {
	tb.Helper()
	var buf bytes.Buffer
	buf.Grow(int(w.Size()))
	n, err := w.WriteTo(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	if n != int64(buf.Len()) || n != w.Size() {
		tb.Fatalf("WriteTo reported %d bytes, wrote %d; Size said %d", n, buf.Len(), w.Size())
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		version   uint32
		alignment uint64
	}{{3, 0}, {2, 32}, {3, 64}, {3, 1}, {3, 4096}} {
		t.Run(fmt.Sprintf("v%d-align%d", tc.version, tc.alignment), func(t *testing.T) {
			w, kv, ts := sampleWriter(t, tc.version, tc.alignment, 7)
			data := encode(t, w)
			f, err := gguf.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			wantAlign := tc.alignment
			if wantAlign == 0 {
				wantAlign = 32
			}
			if f.Version != tc.version || f.Alignment != wantAlign {
				t.Errorf("version %d alignment %d, want %d and %d", f.Version, f.Alignment, tc.version, wantAlign)
			}
			if wantAlign != 32 {
				kv = append(kv, gguf.KV{Key: "general.alignment", Value: gguf.Uint32Value(uint32(wantAlign))})
			}
			if len(f.KV) != len(kv) {
				t.Fatalf("%d keys, want %d", len(f.KV), len(kv))
			}
			for i, e := range kv {
				if got := f.KV[i]; got.Key != e.Key || !got.Value.Equal(e.Value) {
					t.Errorf("key %d: got %s = %s, want %s = %s", i, got.Key, got.Value.Describe(), e.Key, e.Value.Describe())
				}
			}
			if len(f.Tensors) != len(ts) {
				t.Fatalf("%d tensors, want %d", len(f.Tensors), len(ts))
			}
			for i, want := range ts {
				got := f.Tensors[i]
				if got.Name != want.name || got.Type != want.typ || fmt.Sprint(got.Dims) != fmt.Sprint(want.dims) {
					t.Errorf("tensor %d: got %s %s %v, want %s %s %v", i, got.Name, got.Type, got.Dims, want.name, want.typ, want.dims)
				}
				if got.Offset%wantAlign != 0 || (f.DataOffset()+got.Offset)%wantAlign != 0 {
					t.Errorf("tensor %s at %d+%d is not aligned to %d", got.Name, f.DataOffset(), got.Offset, wantAlign)
				}
				if got.Size != uint64(len(want.data)) {
					t.Errorf("tensor %s: size %d, want %d", got.Name, got.Size, len(want.data))
				}
				b, err := f.TensorData(want.name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, want.data) {
					t.Errorf("tensor %s: data differ", want.name)
				}
				if byName, ok := f.Tensor(want.name); !ok || byName.Offset != got.Offset {
					t.Errorf("Tensor(%q) = %v, %v", want.name, byName, ok)
				}
			}
			if _, ok := f.Tensor("nope"); ok {
				t.Error("Tensor(nope) found")
			}
			// The data section holds every tensor padded to the alignment.
			if f.DataOffset()%wantAlign != 0 || uint64(len(data))%wantAlign != 0 {
				t.Errorf("data offset %d, file length %d: not multiples of %d", f.DataOffset(), len(data), wantAlign)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	w, _, _ := sampleWriter(t, 3, 0, 1)
	f, err := gguf.Parse(encode(t, w))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Architecture(); got != "llama" {
		t.Errorf("Architecture() = %q", got)
	}
	u := func(key string, want uint64, wantOK bool) {
		t.Helper()
		if got, ok := f.Uint(key); got != want || ok != wantOK {
			t.Errorf("Uint(%s) = %d, %v; want %d, %v", key, got, ok, want, wantOK)
		}
	}
	u("test.u8", 255, true)
	u("test.u32", math.MaxUint32, true)
	u("test.u64", math.MaxUint64, true)
	u("test.i8", 0, false) // negative
	u("test.f32", 0, false)
	u("missing", 0, false)
	i := func(key string, want int64, wantOK bool) {
		t.Helper()
		if got, ok := f.Int(key); got != want || ok != wantOK {
			t.Errorf("Int(%s) = %d, %v; want %d, %v", key, got, ok, want, wantOK)
		}
	}
	i("test.i8", -128, true)
	i("test.i16", -32768, true)
	i("test.i32", math.MinInt32, true)
	i("test.i64", math.MinInt64, true)
	i("test.u16", 65535, true)
	i("test.u64", 0, false) // above MaxInt64
	if got, ok := f.Float("test.f32"); !ok || float32(got) != 1e-6 {
		t.Errorf("Float(test.f32) = %v, %v", got, ok)
	}
	if got, ok := f.Float("test.f64"); !ok || got != math.Pi {
		t.Errorf("Float(test.f64) = %v, %v", got, ok)
	}
	if got, ok := f.Float("test.nan"); !ok || !math.IsNaN(got) {
		t.Errorf("Float(test.nan) = %v, %v", got, ok)
	}
	if _, ok := f.Float("test.u32"); ok {
		t.Error("Float of an integer succeeded")
	}
	if got, ok := f.Bool("test.bool_true"); !got || !ok {
		t.Errorf("Bool(test.bool_true) = %v, %v", got, ok)
	}
	if got, ok := f.Bool("test.bool_false"); got || !ok {
		t.Errorf("Bool(test.bool_false) = %v, %v", got, ok)
	}
	if got, ok := f.String("general.name"); got != "tiny ünïcode 名前" || !ok {
		t.Errorf("String(general.name) = %q, %v", got, ok)
	}
	if _, ok := f.String("test.u8"); ok {
		t.Error("String of an integer succeeded")
	}
	if got, ok := f.Strings("test.strings"); !ok || fmt.Sprintf("%q", got) != `["a" "" "<|im_end|>" "Ġthe"]` {
		t.Errorf("Strings = %q, %v", got, ok)
	}
	ints := map[string]string{
		"test.i32s": "[1 3 4 -5]", "test.u8s": "[0 1 255]", "test.i8s": "[-1 0 127]",
		"test.u16s": "[7 65535]", "test.i16s": "[-7 32767]", "test.u32s": "[1 4294967295]",
		"test.u64s": "[9223372036854775807]", "test.i64s": "[-9223372036854775808 0]", "test.empty_array": "[]",
	}
	for key, want := range ints {
		if got, ok := f.Ints(key); !ok || fmt.Sprint(got) != want {
			t.Errorf("Ints(%s) = %v, %v; want %s", key, got, ok, want)
		}
	}
	if _, ok := f.Ints("test.strings"); ok {
		t.Error("Ints of strings succeeded")
	}
	if got, ok := f.Floats("test.f32s"); !ok || fmt.Sprint(got) != "[0.5 -2]" {
		t.Errorf("Floats(test.f32s) = %v, %v", got, ok)
	}
	if got, ok := f.Floats("test.f64s"); !ok || fmt.Sprint(got) != "[1e+300]" {
		t.Errorf("Floats(test.f64s) = %v, %v", got, ok)
	}
	v, _ := f.Get("test.bools")
	if got, ok := v.Bools(); !ok || fmt.Sprint(got) != "[true false true]" {
		t.Errorf("Bools = %v, %v", got, ok)
	}
	if v.Type != gguf.TypeArray || v.ArrayType() != gguf.TypeBool || v.ArrayLen() != 3 {
		t.Errorf("bools: type %s of %s × %d", v.Type, v.ArrayType(), v.ArrayLen())
	}
	if got := v.Describe(); got != "[3]bool{true, false, true}" {
		t.Errorf("Describe = %s", got)
	}
	// Values stay valid after Close (they are on the heap).
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.String("general.name"); got != "tiny ünïcode 名前" {
		t.Errorf("after Close: %q", got)
	}
	if _, err := f.TensorData(f.Tensors[0].Name); !errors.Is(err, gguf.ErrClosed) {
		t.Errorf("TensorData after Close: %v, want ErrClosed", err)
	}
}

// TestRealVocabulary writes the real Qwen2.5 tokenizer metadata (151936
// tokens, 151387 merges) and reads it back.
func TestRealVocabulary(t *testing.T) {
	v, err := vocabdata.Qwen2()
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", "qwen2")
	if err := v.WriteGGUF(w); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(encode(t, w))
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	merges, _ := f.Strings("tokenizer.ggml.merges")
	types, _ := f.Ints("tokenizer.ggml.token_type")
	if len(tokens) != len(v.Tokens) || len(merges) != len(v.Merges) || len(types) != len(v.TokenTypes) {
		t.Fatalf("got %d tokens, %d merges, %d types; want %d, %d, %d", len(tokens), len(merges), len(types), len(v.Tokens), len(v.Merges), len(v.TokenTypes))
	}
	for i := range tokens {
		if tokens[i] != v.Tokens[i] || types[i] != int64(v.TokenTypes[i]) {
			t.Fatalf("token %d: %q (type %d), want %q (type %d)", i, tokens[i], types[i], v.Tokens[i], v.TokenTypes[i])
		}
	}
	for i := range merges {
		if merges[i] != v.Merges[i] {
			t.Fatalf("merge %d: %q, want %q", i, merges[i], v.Merges[i])
		}
	}
	if eos, ok := f.Uint("tokenizer.ggml.eos_token_id"); !ok || eos != uint64(v.EOS) {
		t.Errorf("eos = %d, %v; want %d", eos, ok, v.EOS)
	}
	if tmpl, _ := f.String("tokenizer.chat_template"); tmpl != v.ChatTemplate {
		t.Error("chat template differs")
	}
}

func TestSetReplacesKeepingOrder(t *testing.T) {
	w := gguf.NewWriter(3, 0)
	w.SetString("a", "1")
	w.SetUint32("b", 2)
	w.SetString("a", "3")
	w.SetInt32("c", -4)
	w.SetUint64("d", 5)
	w.SetBool("e", true)
	w.SetFloat32s("f", []float32{1.5})
	w.SetInt32s("g", []int32{-1})
	f, err := gguf.Parse(encode(t, w))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range f.KV {
		got = append(got, e.Key+"="+e.Value.Describe())
	}
	want := `[a="3" b=2 c=-4 d=5 e=true f=[1]float32{1.5} g=[1]int32{-1}]`
	if fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestWriterErrors(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	cases := []struct {
		name string
		typ  ggml.Type
		dims []uint64
		data []byte
		want string
	}{
		{"", ggml.F32, []uint64{1}, f32(1), "needs a name"},
		{string(bytes.Repeat([]byte("x"), 64)), ggml.F32, []uint64{1}, f32(1), "longer than"},
		{"dup", ggml.F32, []uint64{1}, f32(1), "added twice"},
		{"t", ggml.Type(99), []uint64{1}, f32(1), "supported types: F32"},
		{"t", ggml.F32, nil, f32(1), "0 dimensions"},
		{"t", ggml.F32, []uint64{1, 1, 1, 1, 1}, f32(1), "5 dimensions"},
		{"t", ggml.F32, []uint64{3}, f32(2), "8 bytes of data, want 12"},
		{"t", ggml.Q8_0, []uint64{16, 2}, make([]byte, 34), "not a multiple of Q8_0's block of 32"},
		{"t", ggml.F32, []uint64{1 << 40, 1 << 40}, nil, "too large"},
	}
	w := gguf.NewWriter(3, 0)
	if err := w.AddTensor("dup", ggml.F32, []uint64{1}, f32(1)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		err := w.AddTensor(c.name, c.typ, c.dims, c.data)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("AddTensor(%.10q, %s, %v, %d bytes) = %v, want %q", c.name, c.typ, c.dims, len(c.data), err, c.want)
		}
	}
	for _, c := range []struct {
		version   uint32
		alignment uint64
	}{{1, 0}, {4, 0}, {3, 48}, {3, 1 << 33}} {
		if _, err := gguf.NewWriter(c.version, c.alignment).WriteTo(&bytes.Buffer{}); err == nil {
			t.Errorf("NewWriter(%d, %d) wrote a file", c.version, c.alignment)
		}
	}
	w = gguf.NewWriter(3, 64)
	w.SetUint32("general.alignment", 32)
	if _, err := w.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("conflicting general.alignment accepted")
	}
	w = gguf.NewWriter(3, 64)
	w.SetUint32("general.alignment", 64)
	f, err := gguf.Parse(encode(t, w))
	if err != nil || f.Alignment != 64 || len(f.KV) != 1 {
		t.Errorf("explicit matching general.alignment: %v, alignment %d, %d keys", err, f.Alignment, len(f.KV))
	}
}

func TestAddFloats(t *testing.T) {
	vals := make([]float32, 64)
	for i := range vals {
		vals[i] = float32(i) / 8
	}
	w := gguf.NewWriter(3, 0)
	if err := w.AddFloats("x", ggml.Q8_0, []uint64{32, 2}, vals); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(encode(t, w))
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.TensorData("x")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 64)
	if err := ggml.Dequantize(ggml.Q8_0, data, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Abs(float64(got[i]-vals[i])) > 0.05 { // half a Q8_0 step (8/127) and then some
			t.Fatalf("element %d: %v, want about %v", i, got[i], vals[i])
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	w, _, ts := sampleWriter(t, 3, 0, 3)
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, want := range ts {
		got, err := f.TensorData(want.name)
		if err != nil || !bytes.Equal(got, want.data) {
			t.Errorf("tensor %s: %v, equal %v", want.name, err, bytes.Equal(got, want.data))
		}
	}
	if err := w.WriteFile(filepath.Join(dir, "missing", "m.gguf")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a failed WriteFile left %d entries", len(entries))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := gguf.Open(filepath.Join(dir, "missing.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	empty := filepath.Join(dir, "empty.gguf")
	os.WriteFile(empty, nil, 0o644)
	if _, err := gguf.Open(empty); !errors.Is(err, gguf.ErrMalformed) {
		t.Errorf("empty file: %v", err)
	}
	if _, err := gguf.Open(dir); err == nil {
		t.Error("opening a directory succeeded")
	}
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00"), 0o644)
	if _, err := gguf.Open(bad); !errors.Is(err, gguf.ErrMalformed) || !bytes.Contains([]byte(err.Error()), []byte(bad)) {
		t.Errorf("truncated file: %v (want ErrMalformed naming the path)", err)
	}
}

// TestBareValues: Values built as bare structs behave as their zero.
func TestBareValues(t *testing.T) {
	arr := gguf.Value{Type: gguf.TypeArray}
	if arr.ArrayLen() != 0 || arr.ArrayType() != gguf.TypeUint8 {
		t.Errorf("bare array: %d × %s", arr.ArrayLen(), arr.ArrayType())
	}
	if got, ok := arr.Ints(); !ok || len(got) != 0 {
		t.Errorf("bare array Ints = %v, %v", got, ok)
	}
	if _, ok := arr.Strings(); ok {
		t.Error("bare array Strings succeeded")
	}
	w := gguf.NewWriter(3, 0)
	w.AddKV("a", arr)
	w.AddKV("z", gguf.Value{})
	w.AddKV("bad", gguf.Value{Type: 99})
	if _, err := w.WriteTo(io.Discard); err == nil {
		t.Error("a value of type 99 was written")
	}
	w = gguf.NewWriter(3, 0)
	w.AddKV("a", arr)
	w.AddKV("z", gguf.Value{})
	f, err := gguf.Parse(encode(t, w))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Get("a"); !v.Equal(gguf.Uint8sValue(nil)) {
		t.Errorf("bare array read back as %s", v.Describe())
	}
	if u, ok := f.Uint("z"); !ok || u != 0 {
		t.Errorf("zero Value read back as %d, %v", u, ok)
	}
}
