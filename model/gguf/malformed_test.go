package gguf_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/model/ggml"
	"github.com/chatloop/chatloop/model/gguf"
)

// enc builds GGUF bytes by hand, field by field, as the specification
// lays them out, independently of the Writer.
type enc struct{ bytes.Buffer }

func (e *enc) u8(v uint8) *enc   { e.WriteByte(v); return e }
func (e *enc) u32(v uint32) *enc { binary.Write(e, binary.LittleEndian, v); return e }
func (e *enc) u64(v uint64) *enc { binary.Write(e, binary.LittleEndian, v); return e }
func (e *enc) i32(v int32) *enc  { binary.Write(e, binary.LittleEndian, v); return e }
func (e *enc) f32(v float32) *enc {
	binary.Write(e, binary.LittleEndian, v)
	return e
}
func (e *enc) str(s string) *enc { e.u64(uint64(len(s))); e.WriteString(s); return e }
func (e *enc) zeros(n int) *enc  { e.Write(make([]byte, n)); return e }
func (e *enc) padTo(a int) *enc  { return e.zeros((a - e.Len()%a) % a) }

// header starts a version 3 file with the given counts.
func header(nTensors, nKV uint64) *enc {
	e := &enc{}
	e.WriteString("GGUF")
	return e.u32(3).u64(nTensors).u64(nKV)
}

// TestLayout checks the writer's bytes against a file encoded by hand from
// the specification: header, metadata, tensor infos, padding to 32, and
// each tensor's data padded to 32.
func TestLayout(t *testing.T) {
	t0 := make([]byte, 24) // F32 [2 3]
	for i := range t0 {
		t0[i] = byte(i + 1)
	}
	t1 := make([]byte, 34) // Q8_0 [32]
	for i := range t1 {
		t1[i] = byte(100 + i)
	}
	want := header(2, 3)
	want.str("general.architecture").u32(8).str("llama")
	want.str("a.arr").u32(9).u32(5).u64(2).i32(-1).i32(2)
	want.str("a.eps").u32(6).f32(1e-5)
	want.str("t0").u32(2).u64(2).u64(3).u32(0).u64(0)
	want.str("t1").u32(1).u64(32).u32(8).u64(32)
	want.padTo(32)
	want.Write(t0)
	want.padTo(32)
	want.Write(t1)
	want.padTo(32)

	w := gguf.NewWriter(3, 0)
	w.SetString("general.architecture", "llama")
	w.SetInt32s("a.arr", []int32{-1, 2})
	w.SetFloat32("a.eps", 1e-5)
	if err := w.AddTensor("t0", ggml.F32, []uint64{2, 3}, t0); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("t1", ggml.Q8_0, []uint64{32}, t1); err != nil {
		t.Fatal(err)
	}
	got := encode(t, w)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("writer bytes differ from the specification's layout:\n got %x\nwant %x", got, want.Bytes())
	}
	f, err := gguf.Parse(want.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := f.TensorData("t1"); !bytes.Equal(d, t1) {
		t.Errorf("t1 = %x", d)
	}
	if tt, _ := f.Tensor("t0"); tt.Elements() != 6 || tt.Rows() != 3 || tt.Size != 24 {
		t.Errorf("t0: %d elements, %d rows, %d bytes", tt.Elements(), tt.Rows(), tt.Size)
	}
}

// tensorFile is a file with one KV and the given tensor infos, and dataLen
// bytes of data after padding.
func tensorFile(infos func(e *enc), n uint64, dataLen int) []byte {
	e := header(n, 1).str("general.architecture").u32(8).str("llama")
	infos(e)
	e.padTo(32)
	e.zeros(dataLen)
	return e.Bytes()
}

func TestMalformed(t *testing.T) {
	huge := uint64(1) << 60
	cases := []struct {
		name string
		data []byte
		is   error
		want string
	}{
		{"empty", nil, gguf.ErrMalformed, "magic"},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), gguf.ErrMalformed, "not a GGUF file"},
		{"version 1", (&enc{}).u32(0x46554747).u32(1).Bytes(), gguf.ErrUnsupported, "version 1"},
		{"big-endian", []byte("GGUF\x00\x00\x00\x03"), gguf.ErrUnsupported, "big-endian"},
		{"version 4", (&enc{}).u32(0x46554747).u32(4).Bytes(), gguf.ErrUnsupported, "version 4"},
		{"no counts", []byte("GGUF\x03\x00\x00\x00\x00"), gguf.ErrMalformed, "tensor count"},
		{"kv count 2^60", header(0, huge).Bytes(), gguf.ErrMalformed, "metadata count"},
		{"tensor count 2^60", header(huge, 0).Bytes(), gguf.ErrMalformed, "tensor count"},
		{"key length 2^62", header(0, 1).u64(1 << 62).zeros(16).Bytes(), gguf.ErrMalformed, "key 0: length"},
		{"key truncated", header(0, 1).u64(100).zeros(10).Bytes(), gguf.ErrMalformed, "key 0"},
		{"unknown value type", header(0, 1).str("k").u32(13).zeros(8).Bytes(), gguf.ErrMalformed, "unknown value type 13"},
		{"value truncated", header(0, 1).str("k").u32(10).zeros(4).Bytes(), gguf.ErrMalformed, "k: needs 8 bytes"},
		{"string value length", header(0, 1).str("k").u32(8).u64(math.MaxUint64).Bytes(), gguf.ErrMalformed, "k: length"},
		{"bool 2", header(0, 1).str("k").u32(7).u8(2).Bytes(), gguf.ErrMalformed, "bool byte is 2"},
		{"array of 2^60 uint64", header(0, 1).str("k").u32(9).u32(10).u64(huge).zeros(64).Bytes(), gguf.ErrMalformed, "element count"},
		{"array of 2^60 strings", header(0, 1).str("k").u32(9).u32(8).u64(huge).zeros(64).Bytes(), gguf.ErrMalformed, "element count"},
		{"array string length", header(0, 1).str("k").u32(9).u32(8).u64(2).str("a").u64(1 << 40).Bytes(), gguf.ErrMalformed, "k[1]: length"},
		{"array of arrays", header(0, 1).str("k").u32(9).u32(9).u64(1).u32(4).u64(0).Bytes(), gguf.ErrUnsupported, "arrays of arrays"},
		{"array element type", header(0, 1).str("k").u32(9).u32(77).u64(1).zeros(8).Bytes(), gguf.ErrMalformed, "element type 77"},
		{"array of bools", header(0, 1).str("k").u32(9).u32(7).u64(2).u8(1).u8(9).Bytes(), gguf.ErrMalformed, "k[1]: bool byte is 9"},
		{"duplicate key", header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).Bytes(), gguf.ErrMalformed, `key "k" appears twice`},
		{"alignment type", header(0, 1).str("general.alignment").u32(10).u64(32).Bytes(), gguf.ErrMalformed, "want uint32"},
		{"alignment 48", header(0, 1).str("general.alignment").u32(4).u32(48).Bytes(), gguf.ErrMalformed, "not a power of two"},
		{"alignment 0", header(0, 1).str("general.alignment").u32(4).u32(0).Bytes(), gguf.ErrMalformed, "not a power of two"},
		{"tensor name length", tensorFile(func(e *enc) { e.u64(1 << 50).zeros(32) }, 1, 0), gguf.ErrMalformed, "tensor 0 name"},
		{"5 dimensions", tensorFile(func(e *enc) { e.str("t").u32(5).zeros(60) }, 1, 0), gguf.ErrMalformed, "5 dimensions"},
		{"dims overflow", tensorFile(func(e *enc) { e.str("t").u32(2).u64(1 << 32).u64(1 << 32).u32(0).u64(0) }, 1, 0), gguf.ErrMalformed, "more than 2^63"},
		{"dim 2^64-1", tensorFile(func(e *enc) { e.str("t").u32(1).u64(math.MaxUint64).u32(0).u64(0) }, 1, 0), gguf.ErrMalformed, "dimension 0 is"},
		{"size overflow", tensorFile(func(e *enc) { e.str("t").u32(1).u64(1 << 62).u32(0).u64(0) }, 1, 0), gguf.ErrMalformed, "overflow"},
		{"partial block", tensorFile(func(e *enc) { e.str("t").u32(2).u64(16).u64(2).u32(8).u64(0) }, 1, 68), gguf.ErrMalformed, "not a multiple of Q8_0's block of 32"},
		{"scalar Q8_0", tensorFile(func(e *enc) { e.str("t").u32(0).u32(8).u64(0) }, 1, 64), gguf.ErrMalformed, "row length 1 is not a multiple of Q8_0's block of 32"},
		{"unaligned offset", tensorFile(func(e *enc) { e.str("t").u32(1).u64(4).u32(0).u64(4) }, 1, 64), gguf.ErrMalformed, "not a multiple of the alignment 32"},
		{"beyond the end", tensorFile(func(e *enc) { e.str("t").u32(1).u64(16).u32(0).u64(32) }, 1, 64), gguf.ErrMalformed, "beyond the end of the data section"},
		{"offset 2^64-32", tensorFile(func(e *enc) { e.str("t").u32(1).u64(16).u32(0).u64(math.MaxUint64 - 31) }, 1, 64), gguf.ErrMalformed, "beyond the end of the data section"},
		{"overlap", tensorFile(func(e *enc) {
			e.str("a").u32(1).u64(16).u32(0).u64(0)
			e.str("b").u32(1).u64(4).u32(0).u64(32)
		}, 2, 96), gguf.ErrMalformed, "tensors a (bytes 0+64) and b (from byte 32) overlap"},
		{"duplicate tensor", tensorFile(func(e *enc) {
			e.str("a").u32(1).u64(4).u32(0).u64(0)
			e.str("a").u32(1).u64(4).u32(0).u64(32)
		}, 2, 64), gguf.ErrMalformed, `tensor "a" appears twice`},
		{"no data section", header(1, 0).str("t").u32(1).u64(4).u32(0).u64(0).Bytes(), gguf.ErrMalformed, "padding before the tensor data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := gguf.Parse(c.data)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("parsed %d tensors, %d keys; want an error", len(f.Tensors), len(f.KV))
			}
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v; want %v mentioning %q", err, c.is, c.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", n, len(c.data))
			}
		})
	}
}

// TestUnknownTensorType: a type chatloop does not know is listed, and
// refused when its data are asked for.
func TestUnknownTensorType(t *testing.T) {
	data := tensorFile(func(e *enc) {
		e.str("iq").u32(2).u64(256).u64(2).u32(23).u64(0) // IQ4_XS
		e.str("f").u32(1).u64(4).u32(0).u64(160)
	}, 2, 192)
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	iq, _ := f.Tensor("iq")
	if iq.Type != 23 || iq.Size != 0 || iq.Elements() != 512 {
		t.Errorf("iq: type %d, size %d, %d elements", iq.Type, iq.Size, iq.Elements())
	}
	_, err = f.TensorData("iq")
	if !errors.Is(err, gguf.ErrUnsupported) || !strings.Contains(err.Error(), "supported types: F32, F16, Q4_0") {
		t.Errorf("TensorData(iq) = %v", err)
	}
	if d, err := f.TensorData("f"); err != nil || len(d) != 16 {
		t.Errorf("TensorData(f) = %d bytes, %v", len(d), err)
	}
	if _, err := f.TensorData("missing"); err == nil {
		t.Error("TensorData(missing) succeeded")
	}
}

// TestTruncations parses every prefix of a valid file: each must fail
// cleanly with ErrMalformed, except those that only drop the padding after
// the last tensor.
func TestTruncations(t *testing.T) {
	w, _, _ := sampleWriter(t, 3, 0, 5)
	data := encode(t, w)
	full, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var end uint64
	for _, ti := range full.Tensors {
		end = max(end, full.DataOffset()+ti.Offset+ti.Size)
	}
	for n := range len(data) {
		_, err := gguf.Parse(data[:n])
		switch {
		case uint64(n) >= end && err != nil:
			t.Fatalf("prefix of %d bytes (all tensor data present): %v", n, err)
		case uint64(n) < end && !errors.Is(err, gguf.ErrMalformed):
			t.Fatalf("prefix of %d bytes: %v, want ErrMalformed", n, err)
		}
	}
}

// TestNoTensors: a metadata-only file may end without padding.
func TestNoTensors(t *testing.T) {
	data := header(0, 1).str("general.architecture").u32(8).str("x").Bytes()
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Architecture() != "x" || len(f.Tensors) != 0 {
		t.Errorf("arch %q, %d tensors", f.Architecture(), len(f.Tensors))
	}
}
