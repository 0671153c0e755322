package gguf_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
)

// smallFile is a valid file small enough for the fuzzer to mutate well:
// a few keys of several kinds and three tiny tensors.
func smallFile(tb testing.TB, alignment uint64) []byte {
	w := gguf.NewWriter(3, alignment)
	w.SetString("general.architecture", "llama")
	w.SetUint32("llama.block_count", 1)
	w.SetFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5)
	w.SetBool("tokenizer.ggml.add_bos_token", true)
	w.SetStrings("tokenizer.ggml.tokens", []string{"a", "b", "<s>"})
	w.SetInt32s("tokenizer.ggml.token_type", []int32{1, 1, 3})
	w.AddKV("x.i64", gguf.Int64Value(-3))
	w.AddKV("x.f64s", gguf.Float64sValue([]float64{0.25}))
	q := make([]byte, 34)
	q[0], q[1] = 0x00, 0x3c // d = 1.0
	for _, t := range []struct {
		name string
		typ  ggml.Type
		dims []uint64
		data []byte
	}{
		{"output_norm.weight", ggml.F32, []uint64{4}, []byte("0123456789abcdef")},
		{"token_embd.weight", ggml.Q8_0, []uint64{32, 1}, q},
		{"blk.0.attn_q.weight", ggml.F16, []uint64{2, 2}, []byte{0, 0x3c, 0, 0xbc, 0, 0x40, 0, 0}},
	} {
		if err := w.AddTensor(t.name, t.typ, t.dims, t.data); err != nil {
			tb.Fatal(err)
		}
	}
	return encode(tb, w)
}

func FuzzParse(f *testing.F) {
	for _, a := range []uint64{32, 8, 1} {
		data := smallFile(f, a)
		f.Add(data)
		for _, n := range []int{4, 8, 24, 40, len(data) / 2, len(data) - 40, len(data) - 1} {
			f.Add(data[:n])
		}
	}
	f.Add(header(0, 1).str("general.alignment").u32(4).u32(64).Bytes())
	f.Add(tensorFile(func(e *enc) {
		e.str("iq").u32(2).u64(256).u64(2).u32(23).u64(0)
		e.str("f").u32(1).u64(4).u32(0).u64(160)
	}, 2, 192))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := gguf.Parse(data)
		if err != nil {
			if !errors.Is(err, gguf.ErrMalformed) && !errors.Is(err, gguf.ErrUnsupported) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrUnsupported: %v", err)
			}
			return
		}
		checkInvariants(t, file, data)
		reencode(t, file)
	})
}

// checkInvariants checks what Parse promises about a file it accepted.
func checkInvariants(t *testing.T, f *gguf.File, data []byte) {
	if f.Alignment == 0 || f.Alignment&(f.Alignment-1) != 0 {
		t.Fatalf("alignment %d", f.Alignment)
	}
	if f.DataOffset() > uint64(len(data)) {
		t.Fatalf("data offset %d beyond %d bytes", f.DataOffset(), len(data))
	}
	for _, e := range f.KV {
		if v, ok := f.Get(e.Key); !ok || !v.Equal(e.Value) {
			t.Fatalf("Get(%q) disagrees with KV", e.Key)
		}
		_ = e.Value.Describe()
		if strs, ok := e.Value.Strings(); ok {
			view, _ := e.Value.StringsView()
			if len(strs) != e.Value.ArrayLen() || fmt.Sprint(strs) != fmt.Sprint(view) {
				t.Fatalf("%s: Strings %q, StringsView %q, ArrayLen %d", e.Key, strs, view, e.Value.ArrayLen())
			}
			if !gguf.StringsValue(strs).Equal(e.Value) {
				t.Fatalf("%s: StringsValue of its strings differs", e.Key)
			}
		}
	}
	for _, ti := range f.Tensors {
		if got, ok := f.Tensor(ti.Name); !ok || got.Offset != ti.Offset {
			t.Fatalf("Tensor(%q) disagrees with Tensors", ti.Name)
		}
		if ti.Offset%f.Alignment != 0 || len(ti.Dims) > gguf.MaxDims {
			t.Fatalf("tensor %s: offset %d, %d dims", ti.Name, ti.Offset, len(ti.Dims))
		}
		b, err := f.TensorData(ti.Name)
		if !ti.Type.Known() {
			if !errors.Is(err, gguf.ErrUnsupported) {
				t.Fatalf("tensor %s of type %s: %v", ti.Name, ti.Type, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want, err := ti.Type.RowSize(int64(ti.Elements()))
		if err != nil || uint64(len(b)) != ti.Size || int64(ti.Size) != want {
			t.Fatalf("tensor %s: %d bytes, size %d, ggml says %d (%v)", ti.Name, len(b), ti.Size, want, err)
		}
		start := f.DataOffset() + ti.Offset
		if len(b) > 0 && &data[start] != &b[0] {
			t.Fatalf("tensor %s is not a slice of the input at %d", ti.Name, start)
		}
	}
}

// reencode writes an accepted file again with the Writer and checks that
// it reads back the same, when the Writer can express it.
func reencode(t *testing.T, f *gguf.File) {
	w := gguf.NewWriter(f.Version, f.Alignment)
	for _, e := range f.KV {
		w.AddKV(e.Key, e.Value)
	}
	for _, ti := range f.Tensors {
		if !ti.Type.Known() || len(ti.Dims) == 0 || ti.Name == "" || len(ti.Name) > gguf.MaxNameLen {
			return // beyond what the writer writes
		}
		b, _ := f.TensorData(ti.Name)
		if err := w.AddTensor(ti.Name, ti.Type, ti.Dims, b); err != nil {
			t.Fatalf("re-adding tensor %s: %v", ti.Name, err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatalf("re-encoding: %v", err)
	}
	g, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("re-encoded file: %v", err)
	}
	wantKV := len(f.KV)
	if _, ok := f.Get(gguf.KeyAlignment); !ok && f.Alignment != gguf.DefaultAlignment {
		wantKV++
	}
	if len(g.KV) != wantKV || len(g.Tensors) != len(f.Tensors) {
		t.Fatalf("re-encoded: %d keys, %d tensors; want %d, %d", len(g.KV), len(g.Tensors), wantKV, len(f.Tensors))
	}
	for i, e := range f.KV {
		if g.KV[i].Key != e.Key || !g.KV[i].Value.Equal(e.Value) {
			t.Fatalf("re-encoded key %d: %s = %s, want %s = %s", i, g.KV[i].Key, g.KV[i].Value.Describe(), e.Key, e.Value.Describe())
		}
	}
	for i, ti := range f.Tensors {
		gi := g.Tensors[i]
		a, _ := f.TensorData(ti.Name)
		b, _ := g.TensorData(gi.Name)
		if gi.Name != ti.Name || gi.Type != ti.Type || fmt.Sprint(gi.Dims) != fmt.Sprint(ti.Dims) || !bytes.Equal(a, b) {
			t.Fatalf("re-encoded tensor %d differs: %+v vs %+v", i, gi, ti)
		}
	}
}
