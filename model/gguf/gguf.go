// Package gguf reads and writes GGUF files, the model format of ggml and
// llama.cpp (versions 2 and 3, little-endian), as the specification in
// ggml's docs/gguf.md defines it.
//
// Open maps a file read-only and Parse reads the header, the metadata and
// the tensor infos; tensor weights stay in the mapping and TensorData
// returns slices of it without copying. Metadata outlive Close; tensor data
// do not. A File from Open leaves metadata arrays (a vocabulary's 150,000
// tokens and merges) in the mapping too, where they cost no heap, and
// copies them to the heap in Close; Parse copies them at once.
//
// Parse checks every count, length, offset and size against the file, so
// a truncated, corrupt or hostile file gives an error wrapping ErrMalformed
// (or ErrUnsupported for a valid file chatloop cannot use, such as a
// big-endian or version 1 file) that says what is wrong and where, never a
// panic; memory grows only with the bytes actually present (a count of
// 2^60 fails at once, allocating nothing).
//
// A tensor whose ggml type chatloop does not know (the IQ quantizations,
// for example) does not make Parse fail: its TensorInfo is listed with its
// type number and Size 0, and TensorData on it returns an error wrapping
// ErrUnsupported that lists the supported types. That way a file can
// still be inspected, and is refused only when its weights are used.
// (Such a tensor's extent is unknown, so only its offset is checked.)
//
// A File is safe for concurrent use by several goroutines, except Close,
// which must come after every other use.
//
// Writer writes files the way llama.cpp's gguf writer does: metadata in
// the order set, tensor infos and data in the order added, each tensor's
// data padded to the alignment. Its output is deterministic, so tests
// can generate models from seeds and compare against stored fixtures.
package gguf

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/chatloop/chatloop/model/ggml"
)

// Errors returned by Parse, Open and the File methods, wrapped with what
// is wrong and where.
var (
	// ErrMalformed: the bytes are not a well-formed GGUF file.
	ErrMalformed = errors.New("gguf: malformed file")
	// ErrUnsupported: a well-formed file (or tensor) chatloop cannot use.
	ErrUnsupported = errors.New("gguf: unsupported")
	// ErrClosed: the File was closed.
	ErrClosed = errors.New("gguf: file closed")
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the alignment of tensor data when general.alignment
// is absent.
const DefaultAlignment = 32

// MaxDims is the most dimensions a tensor has (GGML_MAX_DIMS).
const MaxDims = 4

// MaxNameLen is the longest tensor name ggml accepts (GGML_MAX_NAME less
// its terminating NUL). The writer enforces it; the reader does not.
const MaxNameLen = 63

// KeyAlignment is the metadata key of the data alignment.
const KeyAlignment = "general.alignment"

// File is a parsed GGUF file.
type File struct {
	Version   uint32
	Alignment uint64
	KV        []KV         // in file order
	Tensors   []TensorInfo // in file order

	dataOffset uint64 // where the data section starts in the file
	data       []byte // the data section
	kvIndex    map[string]int
	tIndex     map[string]int
	unmap      func() error
	release    func(b []byte) error // drops mapped pages; nil when not mapped
	closed     bool
}

// KV is one metadata key and its value.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor.
type TensorInfo struct {
	Name string
	// Dims are the sizes of the dimensions, ne[0] first: Dims[0] is the
	// length of a row (the innermost, contiguous dimension).
	Dims []uint64
	Type ggml.Type
	// Offset is where the tensor's data starts, relative to the data
	// section (a multiple of the file's alignment).
	Offset uint64
	// Size is the number of bytes of the data, 0 for a type chatloop does
	// not know.
	Size uint64
}

// Elements is the number of elements (the product of Dims).
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Rows is the number of rows (the product of Dims after the first).
func (t TensorInfo) Rows() uint64 {
	n := uint64(1)
	for i := 1; i < len(t.Dims); i++ {
		n *= t.Dims[i]
	}
	return n
}

// Close unmaps the file of Open. Slices from TensorData must not be used
// afterwards. Closing a File from Parse only marks it closed.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap != nil {
		// Metadata outlive the mapping: copy out the arrays left in it.
		for _, kv := range f.KV {
			if a := kv.Value.arr; a != nil && a.inPlace {
				a.raw, a.inPlace = slices.Clone(a.raw), false
			}
		}
		return f.unmap()
	}
	return nil
}

// Get returns the value of a metadata key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KV[i].Value, true
}

// String returns a string metadata value.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Get(key)
	return v.String()
}

// Uint returns a non-negative integer metadata value of any width.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Uint()
}

// Int returns an integer metadata value of any width that fits an int64.
func (f *File) Int(key string) (int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Int()
}

// Float returns a float32 or float64 metadata value.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return v.Float()
}

// Bool returns a bool metadata value.
func (f *File) Bool(key string) (bool, bool) {
	v, ok := f.Get(key)
	if !ok {
		return false, false
	}
	return v.Bool()
}

// Strings returns an array-of-strings metadata value.
func (f *File) Strings(key string) ([]string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Strings()
}

// StringsView returns an array-of-strings metadata value without copying
// the strings (see Value.StringsView: they must not be used after Close).
func (f *File) StringsView(key string) ([]string, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.StringsView()
}

// Ints returns an array-of-integers metadata value (any width).
func (f *File) Ints(key string) ([]int64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Ints()
}

// Floats returns an array-of-floats metadata value.
func (f *File) Floats(key string) ([]float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return nil, false
	}
	return v.Floats()
}

// Architecture is general.architecture ("llama", "qwen2"), or "".
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// DataOffset is where the data section starts in the file: a tensor's
// data lies at DataOffset()+Offset.
func (f *File) DataOffset() uint64 { return f.dataOffset }

// TensorData returns the named tensor's bytes: a slice of the mapping (or
// of the bytes given to Parse), not a copy, valid until Close. The mapping
// is read-only: writing to the slice crashes the program.
func (f *File) TensorData(name string) ([]byte, error) {
	if f.closed {
		return nil, fmt.Errorf("tensor %s: %w", name, ErrClosed)
	}
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor %q", name)
	}
	if !t.Type.Known() {
		return nil, fmt.Errorf("%w: tensor %s has type %s; supported types: %s",
			ErrUnsupported, name, t.Type, SupportedTypes())
	}
	end := t.Offset + t.Size // checked by Parse
	return f.data[t.Offset:end:end], nil
}

// ReleaseTensor tells the operating system that the process no longer
// needs the named tensor's bytes resident, for example once they have
// been copied into another layout: the whole pages inside the tensor's
// data leave the process's resident memory (madvise MADV_DONTNEED). The
// data stay valid: a later read faults them back in from the file (the
// mapping is read-only, so nothing is lost). The pages the tensor shares
// with its neighbours stay. For a File from Parse, or on a platform that
// reads the file into memory, it does nothing.
func (f *File) ReleaseTensor(name string) error {
	data, err := f.TensorData(name)
	if err != nil {
		return err
	}
	if f.release == nil || len(data) == 0 {
		return nil
	}
	if err := f.release(data); err != nil {
		return fmt.Errorf("gguf: releasing tensor %s: %w", name, err)
	}
	return nil
}

// SupportedTypes lists the tensor types chatloop knows, comma-separated.
func SupportedTypes() string {
	var names []string
	for _, t := range ggml.Types() {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

// reader decodes the header of a GGUF file, bounds-checking every read.
type reader struct {
	data []byte
	pos  uint64
	// inPlace lets arrays refer to data instead of copying them (Open:
	// data is the mapping, and Close copies them out before unmapping).
	inPlace bool
}

func (r *reader) left() uint64 { return uint64(len(r.data)) - r.pos }

func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, r.pos, fmt.Sprintf(format, args...))
}

// bytes returns the next n bytes, or an error naming what was being read.
func (r *reader) bytes(n uint64, what string) ([]byte, error) {
	if n > r.left() {
		return nil, r.errorf("%s: needs %d bytes, the file has %d left", what, n, r.left())
	}
	b := r.data[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

func (r *reader) uint(size int, what string) (uint64, error) {
	b, err := r.bytes(uint64(size), what)
	if err != nil {
		return 0, err
	}
	return getLE(b, size), nil
}

func (r *reader) u32(what string) (uint32, error) {
	v, err := r.uint(4, what)
	return uint32(v), err
}

func (r *reader) u64(what string) (uint64, error) { return r.uint(8, what) }

func (r *reader) string(what string) (string, error) {
	n, err := r.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > r.left() {
		return "", r.errorf("%s: length %d exceeds the %d bytes left in the file", what, n, r.left())
	}
	b, _ := r.bytes(n, what)
	return string(b), nil
}

// count reads a count of items that each take at least min bytes, and
// checks that they fit in what is left of the file.
func (r *reader) count(min uint64, what string) (uint64, error) {
	n, err := r.u64(what)
	if err != nil {
		return 0, err
	}
	if n > r.left()/min {
		return 0, r.errorf("%s: %d items of at least %d bytes do not fit in the %d bytes left", what, n, min, r.left())
	}
	return n, nil
}

// strings checks the lengths of n strings and returns their encoded
// run (each a uint64 length and its bytes): the array's storage, a slice
// of the file or a copy of it (see reader.inPlace).
func (r *reader) strings(n int, what string) ([]byte, error) {
	start := r.pos
	for i := range n {
		if r.left() < 8 {
			return nil, r.errorf("%s[%d] length: needs 8 bytes, the file has %d left", what, i, r.left())
		}
		l := getLE(r.data[r.pos:], 8)
		r.pos += 8
		if l > r.left() {
			return nil, r.errorf("%s[%d]: length %d exceeds the %d bytes left in the file", what, i, l, r.left())
		}
		r.pos += l
	}
	return r.keep(r.data[start:r.pos]), nil
}

// keep returns b, or a copy of it unless the array may stay in place.
func (r *reader) keep(b []byte) []byte {
	if r.inPlace {
		return b[:len(b):len(b)]
	}
	return slices.Clone(b)
}

// preallocate caps the capacity reserved up front for n items, so that
// memory grows with what is actually read.
func preallocate(n uint64) int { return int(min(n, 1<<12)) }

// value reads a value of type t.
func (r *reader) value(t ValueType, what string) (Value, error) {
	switch t {
	case TypeString:
		s, err := r.string(what)
		return Value{Type: TypeString, str: s}, err
	case TypeArray:
		return r.array(what)
	}
	sz := t.size()
	if sz <= 0 {
		return Value{}, r.errorf("%s: unknown value type %d", what, uint32(t))
	}
	v, err := r.uint(sz, what)
	if err != nil {
		return Value{}, err
	}
	if t == TypeBool && v > 1 {
		r.pos -= 1
		return Value{}, r.errorf("%s: bool byte is %d, want 0 or 1", what, v)
	}
	return Value{Type: t, bits: v}, nil
}

func (r *reader) array(what string) (Value, error) {
	et, err := r.u32(what + " element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	a := &array{elem: elem}
	switch sz := elem.size(); {
	case elem == TypeArray:
		return Value{}, fmt.Errorf("%w: %s: arrays of arrays", ErrUnsupported, what)
	case sz < 0:
		r.pos -= 4
		return Value{}, r.errorf("%s: unknown array element type %d", what, et)
	case elem == TypeString:
		n, err := r.count(8, what+" element count")
		if err != nil {
			return Value{}, err
		}
		if n > math.MaxInt32 {
			return Value{}, fmt.Errorf("%w: %s: %d elements", ErrUnsupported, what, n)
		}
		raw, err := r.strings(int(n), what)
		if err != nil {
			return Value{}, err
		}
		a.n, a.raw, a.inPlace = int(n), raw, r.inPlace
	default:
		n, err := r.count(uint64(sz), what+" element count")
		if err != nil {
			return Value{}, err
		}
		if n > math.MaxInt32 {
			return Value{}, fmt.Errorf("%w: %s: %d elements", ErrUnsupported, what, n)
		}
		start := r.pos
		raw, _ := r.bytes(n*uint64(sz), what)
		if elem == TypeBool {
			for i, b := range raw {
				if b > 1 {
					r.pos = start + uint64(i)
					return Value{}, r.errorf("%s[%d]: bool byte is %d, want 0 or 1", what, i, b)
				}
			}
		}
		a.n, a.raw, a.inPlace = int(n), r.keep(raw), r.inPlace
	}
	return Value{Type: TypeArray, arr: a}, nil
}

// Parse reads a GGUF file held in data. The File's tensor data are slices
// of data, which must not change while the File is used; its metadata are
// copies.
func Parse(data []byte) (*File, error) { return parse(data, false) }

// parse is Parse; with inPlace, metadata arrays stay in data too.
func parse(data []byte, inPlace bool) (*File, error) {
	r := &reader{data: data, inPlace: inPlace}
	magic, err := r.bytes(4, "magic")
	if err != nil {
		return nil, err
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("%w: not a GGUF file (it starts with %q, want %q)", ErrMalformed, magic, Magic)
	}
	f := &File{kvIndex: map[string]int{}, tIndex: map[string]int{}, Alignment: DefaultAlignment}
	if f.Version, err = r.u32("version"); err != nil {
		return nil, err
	}
	switch {
	case f.Version != 0 && f.Version&0xffff == 0:
		return nil, fmt.Errorf("%w: a big-endian GGUF file (version bytes %#08x); chatloop reads little-endian files", ErrUnsupported, f.Version)
	case f.Version == 1:
		return nil, fmt.Errorf("%w: GGUF version 1 (chatloop reads versions 2 and 3; convert the file again with a current llama.cpp)", ErrUnsupported)
	case f.Version != 2 && f.Version != 3:
		return nil, fmt.Errorf("%w: GGUF version %d (chatloop reads versions 2 and 3)", ErrUnsupported, f.Version)
	}
	// A tensor info takes at least 8 (name length) + 4 (dims) + 4 (type)
	// + 8 (offset) bytes, a key-value pair 8 (key length) + 4 (type) + 1.
	nTensors, err := r.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := r.count(13, "metadata count")
	if err != nil {
		return nil, err
	}
	if nTensors > r.left()/24 {
		return nil, fmt.Errorf("%w: tensor count %d: that many tensor infos do not fit in the %d bytes left", ErrMalformed, nTensors, r.left())
	}

	f.KV = make([]KV, 0, preallocate(nKV))
	for i := range nKV {
		start := r.pos
		key, err := r.string(fmt.Sprintf("key %d", i))
		if err != nil {
			return nil, err
		}
		if _, dup := f.kvIndex[key]; dup {
			r.pos = start
			return nil, r.errorf("key %q appears twice", key)
		}
		t, err := r.u32(fmt.Sprintf("type of %s", key))
		if err != nil {
			return nil, err
		}
		if ValueType(t).size() < 0 {
			r.pos -= 4
			return nil, r.errorf("%s: unknown value type %d", key, t)
		}
		v, err := r.value(ValueType(t), key)
		if err != nil {
			return nil, err
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}
	if v, ok := f.Get(KeyAlignment); ok {
		a, isU32 := v.Uint()
		if v.Type != TypeUint32 || !isU32 {
			return nil, fmt.Errorf("%w: %s has type %s, want uint32", ErrMalformed, KeyAlignment, v.Type)
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%w: %s = %d is not a power of two", ErrMalformed, KeyAlignment, a)
		}
		f.Alignment = a
	}

	f.Tensors = make([]TensorInfo, 0, preallocate(nTensors))
	for i := range nTensors {
		t, err := r.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tIndex[t.Name]; dup {
			return nil, fmt.Errorf("%w: tensor %q appears twice", ErrMalformed, t.Name)
		}
		f.tIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}

	// The data section starts at the next multiple of the alignment.
	f.dataOffset = r.pos
	if rem := r.pos % f.Alignment; rem != 0 {
		pad := f.Alignment - rem
		if pad > r.left() {
			if nTensors > 0 {
				return nil, r.errorf("the file ends in the padding before the tensor data")
			}
			pad = r.left()
		}
		f.dataOffset += pad
	}
	f.data = data[f.dataOffset:]
	if err := f.checkTensors(); err != nil {
		return nil, err
	}
	return f, nil
}

// tensorInfo reads the i-th tensor info and checks its shape and type.
func (r *reader) tensorInfo(i uint64) (TensorInfo, error) {
	var t TensorInfo
	name, err := r.string(fmt.Sprintf("tensor %d name", i))
	if err != nil {
		return t, err
	}
	t.Name = name
	nDims, err := r.u32("dimension count of tensor " + name)
	if err != nil {
		return t, err
	}
	if nDims > MaxDims {
		return t, fmt.Errorf("%w: tensor %s has %d dimensions (at most %d)", ErrMalformed, name, nDims, MaxDims)
	}
	t.Dims = make([]uint64, nDims)
	elems := uint64(1)
	for j := range t.Dims {
		d, err := r.u64(fmt.Sprintf("dimension %d of tensor %s", j, name))
		if err != nil {
			return t, err
		}
		if d > math.MaxInt64 {
			return t, fmt.Errorf("%w: tensor %s: dimension %d is %d", ErrMalformed, name, j, d)
		}
		t.Dims[j] = d
		hi, lo := bits.Mul64(elems, d)
		if hi != 0 || lo > math.MaxInt64 {
			return t, fmt.Errorf("%w: tensor %s: shape %v has more than 2^63 elements", ErrMalformed, name, t.Dims[:j+1])
		}
		elems = lo
	}
	typ, err := r.u32("type of tensor " + name)
	if err != nil {
		return t, err
	}
	t.Type = ggml.Type(typ)
	if t.Offset, err = r.u64("offset of tensor " + name); err != nil {
		return t, err
	}
	if !t.Type.Known() {
		return t, nil // Size 0; TensorData reports ErrUnsupported
	}
	bs, ts := uint64(t.Type.BlockSize()), uint64(t.Type.TypeSize())
	rowLen := uint64(1) // ggml's ne[0] of a tensor with no dimensions
	if nDims > 0 {
		rowLen = t.Dims[0]
	}
	if rowLen%bs != 0 {
		return t, fmt.Errorf("%w: tensor %s: row length %d is not a multiple of %s's block of %d", ErrMalformed, name, rowLen, t.Type, bs)
	}
	hi, size := bits.Mul64(elems/bs, ts)
	if hi != 0 {
		return t, fmt.Errorf("%w: tensor %s: %d bytes of data overflow", ErrMalformed, name, elems)
	}
	t.Size = size
	return t, nil
}

// checkTensors checks that every tensor is aligned, lies within the data
// section and overlaps no other.
func (f *File) checkTensors() error {
	n := uint64(len(f.data))
	for _, t := range f.Tensors {
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("%w: tensor %s: offset %d is not a multiple of the alignment %d", ErrMalformed, t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > n || t.Size > n-t.Offset {
			return fmt.Errorf("%w: tensor %s: its %d bytes at offset %d lie beyond the end of the data section (%d bytes; is the file truncated?)",
				ErrMalformed, t.Name, t.Size, t.Offset, n)
		}
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := f.Tensors[a], f.Tensors[b]
		if c := cmpU64(ta.Offset, tb.Offset); c != 0 {
			return c
		}
		return cmpU64(ta.Size, tb.Size)
	})
	for k := 1; k < len(order); k++ {
		prev, cur := f.Tensors[order[k-1]], f.Tensors[order[k]]
		if prev.Offset+prev.Size > cur.Offset {
			return fmt.Errorf("%w: tensors %s (bytes %d+%d) and %s (from byte %d) overlap",
				ErrMalformed, prev.Name, prev.Offset, prev.Size, cur.Name, cur.Offset)
		}
	}
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
