package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// ValueType is the type of a metadata value, numbered as in the GGUF
// specification (enum gguf_metadata_value_type).
type ValueType uint32

// The metadata value types of GGUF.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
}

// String is the specification's name of the type ("uint32"), or "type(N)".
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// size is the encoded size of a scalar of type t, 0 for strings and
// arrays, -1 for unknown types.
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	case TypeString, TypeArray:
		return 0
	}
	return -1
}

func (t ValueType) signed() bool {
	return t == TypeInt8 || t == TypeInt16 || t == TypeInt32 || t == TypeInt64
}

func (t ValueType) unsigned() bool {
	return t == TypeUint8 || t == TypeUint16 || t == TypeUint32 || t == TypeUint64
}

// Value is one metadata value. The zero Value is the uint8 0. Values are
// built with the XxxValue constructors or read from a File; their storage
// is on the heap, so they stay valid after the File is closed.
type Value struct {
	Type ValueType
	bits uint64 // scalars: the little-endian bits, zero-extended
	str  string // TypeString
	arr  *array // TypeArray
}

// array holds an array value as it is encoded in a file: numeric
// elements as their little-endian bytes, string elements each as a uint64
// length and its bytes. One slice per array keeps a vocabulary of 150,000
// strings at the size it has in the file, and lets a File from Open leave
// it in the mapping (inPlace) until Close.
type array struct {
	elem    ValueType
	n       int
	raw     []byte
	inPlace bool // raw lies in the File's mapping: Close copies it out
}

// emptyArray stands for the array of a Value built as a bare struct
// (Value{Type: TypeArray}), so that no accessor dereferences nil.
var emptyArray = &array{elem: TypeUint8}

// array returns v's array, never nil (only meaningful for TypeArray).
func (v Value) array() *array {
	if v.arr == nil {
		return emptyArray
	}
	return v.arr
}

// Scalar constructors.

func Uint8Value(v uint8) Value   { return Value{Type: TypeUint8, bits: uint64(v)} }
func Int8Value(v int8) Value     { return Value{Type: TypeInt8, bits: uint64(uint8(v))} }
func Uint16Value(v uint16) Value { return Value{Type: TypeUint16, bits: uint64(v)} }
func Int16Value(v int16) Value   { return Value{Type: TypeInt16, bits: uint64(uint16(v))} }
func Uint32Value(v uint32) Value { return Value{Type: TypeUint32, bits: uint64(v)} }
func Int32Value(v int32) Value   { return Value{Type: TypeInt32, bits: uint64(uint32(v))} }
func Uint64Value(v uint64) Value { return Value{Type: TypeUint64, bits: v} }
func Int64Value(v int64) Value   { return Value{Type: TypeInt64, bits: uint64(v)} }
func Float32Value(v float32) Value {
	return Value{Type: TypeFloat32, bits: uint64(math.Float32bits(v))}
}
func Float64Value(v float64) Value { return Value{Type: TypeFloat64, bits: math.Float64bits(v)} }
func StringValue(v string) Value   { return Value{Type: TypeString, str: v} }

// BoolValue is a bool, stored as one byte 0 or 1.
func BoolValue(v bool) Value {
	var b uint64
	if v {
		b = 1
	}
	return Value{Type: TypeBool, bits: b}
}

// StringsValue is an array of strings (the strings are copied).
func StringsValue(v []string) Value {
	size := 8 * len(v)
	for _, s := range v {
		size += len(s)
	}
	raw := make([]byte, 0, size)
	for _, s := range v {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(len(s)))
		raw = append(raw, s...)
	}
	return Value{Type: TypeArray, arr: &array{elem: TypeString, n: len(v), raw: raw}}
}

// eachString calls yield with every element of a string array, in
// order: strings that alias raw. The lengths were checked when raw was
// parsed or built.
func (a *array) eachString(yield func(i int, b []byte) bool) {
	off := 0
	for i := range a.n {
		l := int(binary.LittleEndian.Uint64(a.raw[off:]))
		off += 8
		if !yield(i, a.raw[off:off+l:off+l]) {
			return
		}
		off += l
	}
}

type number interface {
	~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64 | ~float32 | ~float64 | ~bool
}

func numbers[T number](elem ValueType, v []T) Value {
	sz := elem.size()
	raw := make([]byte, len(v)*sz)
	for i, x := range v {
		var bits uint64
		switch x := any(x).(type) {
		case float32:
			bits = uint64(math.Float32bits(x))
		case float64:
			bits = math.Float64bits(x)
		case bool:
			if x {
				bits = 1
			}
		case uint8:
			bits = uint64(x)
		case int8:
			bits = uint64(x)
		case uint16:
			bits = uint64(x)
		case int16:
			bits = uint64(x)
		case uint32:
			bits = uint64(x)
		case int32:
			bits = uint64(x)
		case uint64:
			bits = x
		case int64:
			bits = uint64(x)
		}
		putLE(raw[i*sz:], sz, bits)
	}
	return Value{Type: TypeArray, arr: &array{elem: elem, n: len(v), raw: raw}}
}

// Array constructors; the slices are copied.

func Uint8sValue(v []uint8) Value     { return numbers(TypeUint8, v) }
func Int8sValue(v []int8) Value       { return numbers(TypeInt8, v) }
func Uint16sValue(v []uint16) Value   { return numbers(TypeUint16, v) }
func Int16sValue(v []int16) Value     { return numbers(TypeInt16, v) }
func Uint32sValue(v []uint32) Value   { return numbers(TypeUint32, v) }
func Int32sValue(v []int32) Value     { return numbers(TypeInt32, v) }
func Uint64sValue(v []uint64) Value   { return numbers(TypeUint64, v) }
func Int64sValue(v []int64) Value     { return numbers(TypeInt64, v) }
func Float32sValue(v []float32) Value { return numbers(TypeFloat32, v) }
func Float64sValue(v []float64) Value { return numbers(TypeFloat64, v) }
func BoolsValue(v []bool) Value       { return numbers(TypeBool, v) }

func putLE(b []byte, size int, v uint64) {
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(b, v)
	}
}

func getLE(b []byte, size int) uint64 {
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// signExtend turns the zero-extended bits of a signed scalar of type t
// into its int64 value.
func signExtend(t ValueType, bits uint64) int64 {
	switch t {
	case TypeInt8:
		return int64(int8(bits))
	case TypeInt16:
		return int64(int16(bits))
	case TypeInt32:
		return int64(int32(bits))
	}
	return int64(bits)
}

func scalarUint(t ValueType, bits uint64) (uint64, bool) {
	switch {
	case t.unsigned():
		return bits, true
	case t.signed():
		if i := signExtend(t, bits); i >= 0 {
			return uint64(i), true
		}
	}
	return 0, false
}

func scalarInt(t ValueType, bits uint64) (int64, bool) {
	switch {
	case t.signed():
		return signExtend(t, bits), true
	case t.unsigned():
		if bits <= math.MaxInt64 {
			return int64(bits), true
		}
	}
	return 0, false
}

func scalarFloat(t ValueType, bits uint64) (float64, bool) {
	switch t {
	case TypeFloat32:
		return float64(math.Float32frombits(uint32(bits))), true
	case TypeFloat64:
		return math.Float64frombits(bits), true
	}
	return 0, false
}

// String returns a string value.
func (v Value) String() (string, bool) {
	if v.Type != TypeString {
		return "", false
	}
	return v.str, true
}

// Uint returns an integer value of any width that is not negative.
func (v Value) Uint() (uint64, bool) { return scalarUint(v.Type, v.bits) }

// Int returns an integer value of any width that fits in an int64.
func (v Value) Int() (int64, bool) { return scalarInt(v.Type, v.bits) }

// Float returns a float32 or float64 value.
func (v Value) Float() (float64, bool) { return scalarFloat(v.Type, v.bits) }

// Bool returns a bool value.
func (v Value) Bool() (bool, bool) {
	if v.Type != TypeBool {
		return false, false
	}
	return v.bits != 0, true
}

// Strings returns a copy of an array of strings: the strings share one
// new allocation of their bytes.
func (v Value) Strings() ([]string, bool) {
	if v.Type != TypeArray || v.array().elem != TypeString {
		return nil, false
	}
	a := v.array()
	buf := make([]byte, 0, len(a.raw)-8*a.n)
	out := make([]string, a.n)
	a.eachString(func(i int, b []byte) bool {
		buf = append(buf, b...)
		out[i] = unsafe.String(unsafe.SliceData(buf[len(buf)-len(b):]), len(b))
		return true
	})
	return out, true
}

// StringsView returns an array of strings without copying their bytes:
// for a File from Open they lie in the file's mapping and must not be
// used after Close (after it, the same call returns strings on the heap).
// A tokenizer built from 150,000 strings that copies what it keeps saves
// a transient copy of all of them this way. Strings has no such limit.
func (v Value) StringsView() ([]string, bool) {
	if v.Type != TypeArray || v.array().elem != TypeString {
		return nil, false
	}
	out := make([]string, v.array().n)
	v.array().eachString(func(i int, b []byte) bool {
		out[i] = unsafe.String(unsafe.SliceData(b), len(b))
		return true
	})
	return out, true
}

// Ints returns an array of integers of any width, or false when it is not
// one or an element does not fit in an int64.
func (v Value) Ints() ([]int64, bool) {
	if v.Type != TypeArray || !(v.array().elem.signed() || v.array().elem.unsigned()) {
		return nil, false
	}
	a := v.array()
	sz := a.elem.size()
	out := make([]int64, a.n)
	for i := range out {
		x, ok := scalarInt(a.elem, getLE(a.raw[i*sz:], sz))
		if !ok {
			return nil, false
		}
		out[i] = x
	}
	return out, true
}

// Floats returns an array of float32 or float64.
func (v Value) Floats() ([]float64, bool) {
	if v.Type != TypeArray || (v.array().elem != TypeFloat32 && v.array().elem != TypeFloat64) {
		return nil, false
	}
	a := v.array()
	sz := a.elem.size()
	out := make([]float64, a.n)
	for i := range out {
		out[i], _ = scalarFloat(a.elem, getLE(a.raw[i*sz:], sz))
	}
	return out, true
}

// Bools returns an array of bools.
func (v Value) Bools() ([]bool, bool) {
	if v.Type != TypeArray || v.array().elem != TypeBool {
		return nil, false
	}
	out := make([]bool, v.array().n)
	for i := range out {
		out[i] = v.array().raw[i] != 0
	}
	return out, true
}

// ArrayLen is the number of elements of an array, 0 for other values.
func (v Value) ArrayLen() int {
	if v.Type != TypeArray {
		return 0
	}
	return v.array().n
}

// ArrayType is the element type of an array. It is meaningless for other
// values (check Type first).
func (v Value) ArrayType() ValueType {
	if v.Type != TypeArray {
		return 0
	}
	return v.array().elem
}

// Equal reports whether v and w have the same type and the same contents
// (floats compared bit for bit).
func (v Value) Equal(w Value) bool {
	if v.Type != w.Type {
		return false
	}
	switch v.Type {
	case TypeString:
		return v.str == w.str
	case TypeArray:
		a, b := v.array(), w.array()
		if a.elem != b.elem || a.n != b.n {
			return false
		}
		// Both encodings are canonical, strings included.
		return string(a.raw) == string(b.raw)
	}
	return v.bits == w.bits
}

// Describe renders the value for people: scalars in full, arrays as their
// element type, length and first few elements.
func (v Value) Describe() string {
	switch v.Type {
	case TypeString:
		return fmt.Sprintf("%q", v.str)
	case TypeBool:
		return fmt.Sprint(v.bits != 0)
	case TypeFloat32, TypeFloat64:
		f, _ := v.Float()
		return fmt.Sprint(f)
	case TypeArray:
		a := v.array()
		s := fmt.Sprintf("[%d]%s{", a.n, a.elem)
		const show = 4
		for i := 0; i < a.n && i < show; i++ {
			if i > 0 {
				s += ", "
			}
			s += v.elem(i).Describe()
		}
		if a.n > show {
			s += ", …"
		}
		return s + "}"
	}
	if v.Type.signed() {
		i, _ := v.Int()
		return fmt.Sprint(i)
	}
	return fmt.Sprint(v.bits)
}

// elem is element i of an array as a scalar Value.
func (v Value) elem(i int) Value {
	a := v.array()
	if a.elem == TypeString {
		var s string
		a.eachString(func(j int, b []byte) bool {
			if j == i {
				s = string(b)
			}
			return j < i
		})
		return StringValue(s)
	}
	sz := a.elem.size()
	return Value{Type: a.elem, bits: getLE(a.raw[i*sz:], sz)}
}
