package gguf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"

	"github.com/chatloop/chatloop/model/ggml"
)

// Writer builds a GGUF file: metadata in the order it is set, then tensor
// infos and data in the order tensors are added, each tensor's data
// padded to the alignment, as llama.cpp's gguf writer lays them out.
type Writer struct {
	version   uint32
	alignment uint64
	err       error // from NewWriter, reported by WriteTo
	kv        []KV
	kvIndex   map[string]int
	tensors   []wtensor
	tIndex    map[string]bool
}

type wtensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns a Writer for a file of the given version (2 or 3; 0
// means 3) with tensor data aligned to alignment bytes (a power of two; 0
// means 32). An alignment other than 32 is recorded as general.alignment.
// Invalid arguments are reported by WriteTo.
func NewWriter(version uint32, alignment uint64) *Writer {
	w := &Writer{version: version, alignment: alignment, kvIndex: map[string]int{}, tIndex: map[string]bool{}}
	if w.version == 0 {
		w.version = 3
	}
	if w.alignment == 0 {
		w.alignment = DefaultAlignment
	}
	switch {
	case w.version != 2 && w.version != 3:
		w.err = fmt.Errorf("gguf: cannot write version %d (2 or 3)", version)
	case w.alignment&(w.alignment-1) != 0 || w.alignment > math.MaxUint32:
		w.err = fmt.Errorf("gguf: alignment %d is not a power of two below 2^32", alignment)
	}
	return w
}

// AddKV sets a metadata key. Setting a key again replaces its value and
// keeps its place.
func (w *Writer) AddKV(key string, v Value) {
	if i, ok := w.kvIndex[key]; ok {
		w.kv[i].Value = v
		return
	}
	w.kvIndex[key] = len(w.kv)
	w.kv = append(w.kv, KV{Key: key, Value: v})
}

// SetString sets a string metadata value.
func (w *Writer) SetString(key, v string) { w.AddKV(key, StringValue(v)) }

// SetUint32 sets a uint32 metadata value.
func (w *Writer) SetUint32(key string, v uint32) { w.AddKV(key, Uint32Value(v)) }

// SetInt32 sets an int32 metadata value.
func (w *Writer) SetInt32(key string, v int32) { w.AddKV(key, Int32Value(v)) }

// SetUint64 sets a uint64 metadata value.
func (w *Writer) SetUint64(key string, v uint64) { w.AddKV(key, Uint64Value(v)) }

// SetFloat32 sets a float32 metadata value.
func (w *Writer) SetFloat32(key string, v float32) { w.AddKV(key, Float32Value(v)) }

// SetBool sets a bool metadata value.
func (w *Writer) SetBool(key string, v bool) { w.AddKV(key, BoolValue(v)) }

// SetStrings sets an array-of-strings metadata value.
func (w *Writer) SetStrings(key string, v []string) { w.AddKV(key, StringsValue(v)) }

// SetInt32s sets an array-of-int32 metadata value.
func (w *Writer) SetInt32s(key string, v []int32) { w.AddKV(key, Int32sValue(v)) }

// SetFloat32s sets an array-of-float32 metadata value.
func (w *Writer) SetFloat32s(key string, v []float32) { w.AddKV(key, Float32sValue(v)) }

// AddTensor adds a tensor of type typ and shape dims (ne[0], the row
// length, first) whose data are already encoded in ggml's layout. It
// checks the name, the shape and that len(data) is the size ggml computes
// for them. data is kept, not copied, until WriteTo.
func (w *Writer) AddTensor(name string, typ ggml.Type, dims []uint64, data []byte) error {
	switch {
	case name == "":
		return errors.New("gguf: a tensor needs a name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("gguf: tensor name %q is longer than ggml's %d bytes", name, MaxNameLen)
	case w.tIndex[name]:
		return fmt.Errorf("gguf: tensor %s added twice", name)
	case !typ.Known():
		return fmt.Errorf("gguf: tensor %s: %w: type %s; supported types: %s", name, ErrUnsupported, typ, SupportedTypes())
	case len(dims) == 0 || len(dims) > MaxDims:
		return fmt.Errorf("gguf: tensor %s has %d dimensions (1 to %d)", name, len(dims), MaxDims)
	}
	elems := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 || lo > math.MaxInt64 {
			return fmt.Errorf("gguf: tensor %s: shape %v is too large", name, dims)
		}
		elems = lo
	}
	if bs := uint64(typ.BlockSize()); dims[0]%bs != 0 {
		return fmt.Errorf("gguf: tensor %s: row length %d is not a multiple of %s's block of %d", name, dims[0], typ, bs)
	}
	size, err := typ.RowSize(int64(elems))
	if err != nil {
		return fmt.Errorf("gguf: tensor %s: %w", name, err)
	}
	if int64(len(data)) != size {
		return fmt.Errorf("gguf: tensor %s: %d bytes of data, want %d for %s %v", name, len(data), size, typ, dims)
	}
	w.tIndex[name] = true
	w.tensors = append(w.tensors, wtensor{
		info: TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: typ, Size: uint64(size)},
		data: data,
	})
	return nil
}

// AddFloats quantizes values to typ with ggml.Quantize and adds them as a
// tensor of shape dims.
func (w *Writer) AddFloats(name string, typ ggml.Type, dims []uint64, values []float32) error {
	data, err := ggml.Quantize(typ, values)
	if err != nil {
		return fmt.Errorf("gguf: tensor %s: %w", name, err)
	}
	return w.AddTensor(name, typ, dims, data)
}

func align(n, a uint64) uint64 { return (n + a - 1) / a * a }

// countingWriter counts what it writes and remembers the first error.
type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
	buf [8]byte
}

func (c *countingWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *countingWriter) uint(size int, v uint64) {
	putLE(c.buf[:], size, v)
	c.write(c.buf[:size])
}

func (c *countingWriter) string(s string) {
	c.uint(8, uint64(len(s)))
	if c.err == nil {
		n, err := c.w.WriteString(s)
		c.n += int64(n)
		c.err = err
	}
}

func (c *countingWriter) pad(a uint64) {
	var zero [256]byte
	for p := align(uint64(c.n), a) - uint64(c.n); p > 0 && c.err == nil; {
		k := min(p, uint64(len(zero)))
		c.write(zero[:k])
		p -= k
	}
}

func (c *countingWriter) value(v Value) {
	c.uint(4, uint64(v.Type))
	switch v.Type {
	case TypeString:
		c.string(v.str)
	case TypeArray:
		c.uint(4, uint64(v.array().elem))
		c.uint(8, uint64(v.array().n))
		c.write(v.array().raw) // strings are stored encoded too
	default:
		c.uint(v.Type.size(), v.bits)
	}
}

// Size is the number of bytes WriteTo writes (0 if it would fail).
func (w *Writer) Size() int64 {
	kv, err := w.metadata()
	if err != nil {
		return 0
	}
	n := uint64(4 + 4 + 8 + 8)
	for _, e := range kv {
		n += 8 + uint64(len(e.Key)) + 4
		switch v := e.Value; v.Type {
		case TypeString:
			n += 8 + uint64(len(v.str))
		case TypeArray:
			n += 4 + 8 + uint64(len(v.array().raw))
		default:
			n += uint64(v.Type.size())
		}
	}
	for _, t := range w.tensors {
		n += 8 + uint64(len(t.info.Name)) + 4 + 8*uint64(len(t.info.Dims)) + 4 + 8
	}
	n = align(n, w.alignment)
	for _, t := range w.tensors {
		n = align(n+t.info.Size, w.alignment)
	}
	return int64(n)
}

// metadata returns the keys to write: those set, and general.alignment
// when the alignment is not the default.
func (w *Writer) metadata() ([]KV, error) {
	if w.err != nil {
		return nil, w.err
	}
	kv := w.kv
	if i, ok := w.kvIndex[KeyAlignment]; ok {
		if a, _ := kv[i].Value.Uint(); kv[i].Value.Type != TypeUint32 || a != w.alignment {
			return nil, fmt.Errorf("gguf: %s is set to %s, but the writer aligns to %d (uint32)", KeyAlignment, kv[i].Value.Describe(), w.alignment)
		}
	} else if w.alignment != DefaultAlignment {
		kv = append(kv[:len(kv):len(kv)], KV{Key: KeyAlignment, Value: Uint32Value(uint32(w.alignment))})
	}
	for _, e := range kv {
		if e.Value.Type.size() < 0 {
			return nil, fmt.Errorf("gguf: key %s: invalid value of type %s", e.Key, e.Value.Type)
		}
	}
	return kv, nil
}

// WriteTo writes the file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	kv, err := w.metadata()
	if err != nil {
		return 0, err
	}
	c := &countingWriter{w: bufio.NewWriterSize(out, 1<<20)}
	c.write([]byte(Magic))
	c.uint(4, uint64(w.version))
	c.uint(8, uint64(len(w.tensors)))
	c.uint(8, uint64(len(kv)))
	for _, e := range kv {
		c.string(e.Key)
		c.value(e.Value)
	}
	var off uint64
	for _, t := range w.tensors {
		c.string(t.info.Name)
		c.uint(4, uint64(len(t.info.Dims)))
		for _, d := range t.info.Dims {
			c.uint(8, d)
		}
		c.uint(4, uint64(t.info.Type))
		c.uint(8, off)
		off = align(off+t.info.Size, w.alignment)
	}
	c.pad(w.alignment)
	for _, t := range w.tensors {
		c.write(t.data)
		c.pad(w.alignment)
	}
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.n, c.err
}

// WriteFile writes the file to path through a temporary file in the same
// directory, renamed into place once complete, so that path never holds a
// partial file.
func (w *Writer) WriteFile(path string) (err error) {
	if w.err != nil {
		return w.err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = w.WriteTo(tmp); err != nil {
		return fmt.Errorf("gguf: writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("gguf: writing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("gguf: writing %s: %w", path, err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return nil
}
